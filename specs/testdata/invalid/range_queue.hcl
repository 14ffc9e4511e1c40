queue "q" {
  visibility_timeout = "13h"
  retention          = "30s"
  delay              = "16m"
  receive_wait       = "21s"
  max_message_size   = "2MiB"
  max_receives       = 1001
  dead_letter        = "dead"
}

queue "dead" {
  retention        = "15d"
  max_message_size = 512
}
