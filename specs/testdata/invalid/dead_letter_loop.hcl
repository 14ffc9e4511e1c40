queue "a" {
  max_receives = 3
  dead_letter  = "b"
}

queue "b" {
  max_receives = 3
  dead_letter  = "c"
}

queue "c" {
  max_receives = 3
  dead_letter  = "a"
}
