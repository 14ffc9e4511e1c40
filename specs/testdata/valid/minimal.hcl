# The least a job file can say: every other field takes its default.

job "hello" {
  task "main" {
    image = "busybox"
  }
}
