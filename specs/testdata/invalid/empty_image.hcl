job "web" {
  task "empty" {
    image = ""
  }

  task "blank" {
    image = "  "
  }

  task "missing" {
    command = ["/bin/true"]
  }

  task "spaced" {
    image = "busy box"
  }

  task "archive" {
    image = "oci-archive:"
  }
}
