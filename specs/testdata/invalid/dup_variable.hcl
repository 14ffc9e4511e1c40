variable "image" {
  default = "busybox"
}

variable "image" {
  default = "nginx"
}

job "web" {
  task "main" {
    image = var.image
  }
}
