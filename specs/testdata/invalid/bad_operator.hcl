job "web" {
  constraint {
    attribute = "node.class"
    operator  = "~="
    value     = "general"
  }

  constraint {
    attribute = "class"
    value     = "general"
  }

  constraint {
    value = "general"
  }

  task "main" {
    image = "busybox"
  }
}
