queue "q" {
}

queue "q.fifo" {
  fifo = true
}

job "counted" {
  type  = "function"
  count = 2
  function {
    memory  = 512
    timeout = "16m"
    concurrency {
      max      = 2
      reserved = 3
    }
    warm {
      min = 5
    }
  }
  task "fn" {
    image = "x"
    resources {
      memory = 256
    }
  }
  task "other" {
    image = "y"
  }
}

job "unqueued" {
  type = "function"
  function {
    event_source {
      batch_size = 5
    }
  }
  task "fn" {
    image = "x"
  }
}

job "batches" {
  type  = "function"
  queue = "q"
  function {
    event_source {
      batch_size          = 20
      maximum_concurrency = 1
    }
  }
  task "fn" {
    image = "x"
  }
}

job "ordered" {
  type  = "function"
  queue = "q.fifo"
  function {
    event_source {
      batch_size = 11
      batching_window = "1s"
    }
  }
  task "fn" {
    image = "x"
  }
}

job "svc" {
  function {
  }
  task "t" {
    image = "x"
  }
}

job "memory" {
  type = "function"
  function {
    memory = 512
  }
  task "fn" {
    image = "x"
    resources {
      memory = 256
    }
  }
}
