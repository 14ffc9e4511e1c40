queue "dead" {
}

queue "no-max" {
  dead_letter = "dead"
}

queue "no-dead" {
  max_receives = 5
}
