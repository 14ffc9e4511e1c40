queue "work" {
}

job "worker" {
  type  = "dispatch"
  queue = "work"

  task "main" {
    image = "busybox"

    retry {
      delay     = "10m"
      max_delay = "1m"
    }
  }
}
