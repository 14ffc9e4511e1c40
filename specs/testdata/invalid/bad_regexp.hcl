job "web" {
  constraint {
    attribute = "node.name"
    operator  = "regexp"
    value     = "web-(\\d+"
  }

  task "main" {
    image = "busybox"
  }
}
