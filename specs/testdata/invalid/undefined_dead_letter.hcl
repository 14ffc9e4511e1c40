queue "images" {
  max_receives = 3
  dead_letter  = "images-dlq"
}
