job "web" {
  task "main" {
    image   = "busybox"
    timeout = "1h"
  }
}
