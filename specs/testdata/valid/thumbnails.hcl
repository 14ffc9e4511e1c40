# The example of the job language reference: every block and attribute.

variable "quality" {
  type    = number
  default = 80
}

queue "images" {
  visibility_timeout = "2m"
  retention          = "4d"
  delay              = "0s"
  receive_wait       = "20s"
  max_message_size   = "256KiB"
  max_receives       = 5
  dead_letter        = "images-dead"
}

queue "images-dead" {
  retention = "14d"
}

job "thumbnails" {
  type     = "dispatch"
  queue    = "images"
  priority = 50

  scaling {
    min               = 0
    max               = 20
    messages_per_task = 10
    cooldown          = "30s"
  }

  update {
    max_parallel = 1
  }

  constraint {
    attribute = "node.class"
    operator  = "="
    value     = "general"
  }

  constraint {
    operator = "distinct_hosts"
  }

  spread {
    attribute = "node.meta.zone"
    weight    = 50
  }

  task "resize" {
    image        = "oci-archive:./images/resizer.tar"
    command      = ["/bin/resize"]
    args         = ["--quality", "${var.quality}"]
    env          = { LOG_LEVEL = "info" }
    workdir      = "/work"
    user         = "1000:1000"
    timeout      = "10m"
    kill_signal  = "SIGTERM"
    kill_timeout = "10s"

    resources {
      cpu    = 500
      memory = 256
    }

    restart {
      attempts = 2
      delay    = "5s"
    }

    retry {
      delay     = "5s"
      max_delay = "5m"
    }
  }
}
