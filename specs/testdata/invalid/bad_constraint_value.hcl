job "web" {
  constraint {
    attribute = "node.os"
    operator  = "in"
    value     = "linux,,darwin"
  }

  constraint {
    attribute = "node.meta."
    operator  = "not_in"
    value     = ""
  }

  constraint {
    attribute = "node.name"
    operator  = "distinct_hosts"
    value     = "true"
  }

  spread {
    attribute = "node.meta.zone"
  }

  spread {
    attribute = "node.meta.zone"
    weight    = 10
  }

  spread {
  }

  task "main" {
    image = "busybox"
  }
}
