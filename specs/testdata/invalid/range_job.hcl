job "low" {
  priority = 0

  update {
    max_parallel = 0
  }

  spread {
    attribute = "node.meta.zone"
    weight    = 101
  }

  task "main" {
    image = "busybox"
  }
}

job "high" {
  priority = 101
  count    = 0

  task "main" {
    image = "busybox"
  }
}
