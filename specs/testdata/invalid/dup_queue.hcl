queue "images" {
}

queue "images" {
  retention = "1d"
}
