job "web" {
  scaling {
    min = 1
    max = 3
  }

  task "main" {
    image = "busybox"
  }
}
