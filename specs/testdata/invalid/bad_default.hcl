variable "count" {
  type    = number
  default = "many"
}

variable "bad type" {
  type = strng
}

job "web" {
  task "main" {
    image = "busybox"
  }
}
