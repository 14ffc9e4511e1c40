queue "orders" {
}

job "workers" {
  queue    = "orders"
  priority = 100

  scaling {
    min = 1
    max = 1
  }

  update {
    max_parallel = 3
  }

  spread {
    attribute = "node.meta.rack"
    weight    = 100
  }

  spread {
    attribute = "node.class"
    weight    = 1
  }

  task "worker" {
    image = "busybox"

    restart {
      attempts = 100
      delay    = "1h"
    }
  }
}

job "report" {
  type  = "batch"
  count = 10000

  task "run" {
    image   = "busybox"
    timeout = "7d"
  }
}
