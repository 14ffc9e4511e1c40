job "nightly" {
  type = "cron"

  task "main" {
    image = "busybox"
  }
}
