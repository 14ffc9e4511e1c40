queue "q" {
  visibility_timeout = "5 minutes"
  retention          = "10"
  delay              = "1w"
  receive_wait       = 20
}
