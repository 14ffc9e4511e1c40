queue "images.jpg" {
}

job "Thumb Nails" {
  task "-main" {
    image = "busybox"
  }
}

job "this-name-is-far-too-long-to-be-a-job-name-because-it-has-64-chars" {
  task "main" {
    image = "busybox"
  }
}
