queue "a" {
  max_message_size = "256KB"
}

queue "b" {
  max_message_size = "1.5MiB"
}

queue "c" {
  max_message_size = -1
}
