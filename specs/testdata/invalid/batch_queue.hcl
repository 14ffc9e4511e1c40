queue "work" {
}

job "report" {
  type  = "batch"
  queue = "work"

  scaling {
    max = 3
  }

  task "main" {
    image = "busybox"
  }
}
