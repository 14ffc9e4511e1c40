queue "work" {
}

job "worker" {
  queue = "work"

  scaling {
    min = 1
  }

  task "main" {
    image = "busybox"
  }
}
