job "web" {
  priority = 60
}
