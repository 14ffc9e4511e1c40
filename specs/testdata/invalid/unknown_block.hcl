jobs "typo" {
}

job "web" {
  group "g" {
  }

  task "main" {
    image = "busybox"

    volume "data" {
    }
  }
}
