job {
  task "main" {
    image = "busybox"
  }
}

job "web" "extra" {
  task "main" {
    image = "busybox"
  }
}

job "ok" {
  task {
    image = "busybox"
  }
}
