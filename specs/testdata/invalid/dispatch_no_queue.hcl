job "resize" {
  type = "dispatch"

  task "main" {
    image = "busybox"
  }
}
