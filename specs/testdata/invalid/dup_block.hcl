queue "work" {
}

job "worker" {
  queue = "work"

  scaling {
    max = 3
  }

  scaling {
    max = 4
  }

  task "main" {
    image = "busybox"

    resources {
      cpu = 200
    }

    resources {
      memory = 512
    }
  }
}
