variable "image" {
  default = null
  type    = string
}

job "web" {
  task "main" {
    image = var.image
  }
}
