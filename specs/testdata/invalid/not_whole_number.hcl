job "web" {
  count    = 1e30
  priority = 50.5

  task "main" {
    image = "busybox"

    resources {
      cpu = 1.5
    }
  }
}
