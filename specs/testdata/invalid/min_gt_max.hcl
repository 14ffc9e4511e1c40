queue "work" {
}

job "worker" {
  queue = "work"

  scaling {
    min = 5
    max = 3
  }

  task "main" {
    image = "busybox"
  }
}
