job "broken" {
  task "main" {
    image = "busybox"
    command = ["sh", "-c", "echo hi"
  }
}
