queue "plain" {}

queue "ordered.fifo" {
  fifo = true
}

topic "events.fifo" {
  subscription {
    queue = "plain"
  }
}

topic "events" {
  subscription {
    queue = "ordered.fifo"
  }
}
