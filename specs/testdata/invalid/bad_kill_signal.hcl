job "web" {
  task "main" {
    image       = "busybox"
    kill_signal = "SIGFOO"
  }

  task "short" {
    image       = "busybox"
    kill_signal = "TERM"
  }
}
