queue "work" {
}

job "worker" {
  type  = "dispatch"
  queue = "work"

  task "main" {
    image        = "busybox"
    timeout      = "8d"
    kill_timeout = "11m"

    resources {
      cpu    = 5
      memory = 2
    }

    restart {
      attempts = 101
      delay    = "0s"
    }

    retry {
      delay = "2h"
    }
  }
}
