queue "orders-dead.fifo" {
  fifo = true
}

queue "orders.fifo" {
  fifo                        = true
  content_based_deduplication = true
  deduplication_scope         = "messageGroup"
  fifo_throughput_limit       = "perMessageGroupId"
  max_receives                = 3
  dead_letter                 = "orders-dead.fifo"
}
