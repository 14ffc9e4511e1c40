# A producer that sends orders and reads its queues' figures.
queue "orders-*" {
  capabilities = ["read", "send"]
}
