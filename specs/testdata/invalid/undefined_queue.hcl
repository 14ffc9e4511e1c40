#@ queue-exists shared
queue "images" {
}

job "resize" {
  type  = "dispatch"
  queue = "imgaes"

  task "main" {
    image = "busybox"
  }
}

job "fine" {
  type  = "dispatch"
  queue = "shared"

  task "main" {
    image = "busybox"
  }
}
