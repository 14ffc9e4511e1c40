queue "plain" {
  fifo = true
}

queue "named.fifo" {
}

queue "std" {
  content_based_deduplication = true
  deduplication_scope         = "queue"
}

queue "odd.fifo" {
  fifo                  = true
  deduplication_scope   = "tenant"
  fifo_throughput_limit = "fast"
  max_receives          = 2
  dead_letter           = "std"
}
