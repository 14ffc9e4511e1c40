# Two jobs with one name.

job "x" {
  task "main" {
    image = "busybox"
  }
}

queue "x" {
}

job "x" {
  task "main" {
    image = "busybox"
  }
}
