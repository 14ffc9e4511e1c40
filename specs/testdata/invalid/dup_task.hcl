job "web" {
  task "main" {
    image = "busybox"
  }

  task "sidecar" {
    image = "busybox"
  }

  task "main" {
    image = "nginx"
  }
}
