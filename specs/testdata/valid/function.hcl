queue "orders" {
  max_receives = 3
  dead_letter  = "orders-dlq"
}

queue "orders-dlq" {
}

# The smallest function: its name is the job's.
job "echo" {
  type = "function"
  task "fn" {
    image = "oci-archive:/images/echo.tar"
  }
}

# A function fed by a queue, in batches, with partial failures.
job "orders" {
  type  = "function"
  queue = "orders"

  function {
    handler = "main"
    memory  = 256
    timeout = "30s"
    concurrency {
      max      = 4
      reserved = 1
    }
    warm {
      min          = 1
      idle_timeout = "10m"
    }
    event_source {
      batch_size                 = 100
      batching_window            = "2s"
      report_batch_item_failures = true
      maximum_concurrency        = 2
    }
  }

  task "fn" {
    image = "oci-archive:/images/orders.tar"
  }
}
