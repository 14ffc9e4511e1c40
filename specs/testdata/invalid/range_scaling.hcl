queue "work" {
}

job "worker" {
  queue = "work"

  scaling {
    min               = -1
    max               = 10001
    messages_per_task = 0
    cooldown          = "2h"
  }

  task "main" {
    image = "busybox"
  }
}
