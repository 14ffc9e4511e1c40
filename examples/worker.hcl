# A service job whose workers receive from the queue themselves. Docket
# scales the number of workers on the backlog: one worker per 20 waiting or
# in-flight messages, between 0 and 8, and stops idle workers first once the
# backlog has stayed low for the cooldown.

queue "orders" {
  visibility_timeout = "1m"
  receive_wait       = "20s"
  max_receives       = 5
  dead_letter        = "orders-dead"
}

queue "orders-dead" {
  retention = "14d"
}

job "order-workers" {
  type  = "service"
  queue = "orders"

  scaling {
    min               = 0
    max               = 8
    messages_per_task = 20
    cooldown          = "15s"
  }

  update {
    max_parallel = 2
  }

  spread {
    attribute = "node.meta.zone"
  }

  task "worker" {
    image        = "oci-archive:./images/worker.tar"
    args         = ["work", "--batch", "10"]
    env          = { LOG_LEVEL = "info" }
    kill_signal  = "SIGTERM"
    kill_timeout = "20s"

    resources {
      cpu    = 250
      memory = 128
    }

    restart {
      attempts = 3
      delay    = "2s"
    }
  }
}
