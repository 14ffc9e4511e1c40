# Queues may live in a file of their own; jobs in other files refer to them.

queue "orders" {
  visibility_timeout = "0s"
  delay              = "1m30s"
  max_message_size   = 1024
  max_receives       = 10
  dead_letter        = "orders_dead"
}

queue "orders_dead" {
  retention        = "1d12h"
  max_message_size = "1MiB"
}

queue "Mixed-Case_Queue" {
  visibility_timeout = "1.5h"
  retention          = "90m"
  receive_wait       = "20s"
}
