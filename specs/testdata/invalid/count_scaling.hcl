queue "work" {
}

job "service" {
  queue = "work"
  count = 3

  scaling {
    max = 10
  }

  task "main" {
    image = "busybox"
  }
}

job "dispatch" {
  type  = "dispatch"
  queue = "work"
  count = 2

  task "main" {
    image = "busybox"
  }
}
