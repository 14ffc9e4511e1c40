queue "q" {
  fifo = true
}

job "web" {
  name = "web"

  task "main" {
    imagee = "busybox"
    image  = "busybox"

    resources {
      gpu = 1
    }
  }
}
