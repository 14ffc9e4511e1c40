variable "image" {
  type = string
}

variable "tag" {
}

job "web" {
  task "main" {
    image = "${var.image}:${var.tag}"
  }
}
