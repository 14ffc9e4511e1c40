queue "q" {
  priority = 1
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
