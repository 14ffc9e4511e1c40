job "web" {
  priority = "high"
  count    = [1]

  task "main" {
    image   = "busybox"
    command = "/bin/sh"
    args    = ["-c", null]
    env     = ["A=b"]
  }
}
