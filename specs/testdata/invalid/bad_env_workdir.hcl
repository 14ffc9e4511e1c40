job "web" {
  task "main" {
    image   = "busybox"
    workdir = "work"
    env = {
      GOOD       = "yes"
      "BAD=NAME" = "no"
      ""         = "empty"
    }
  }
}
