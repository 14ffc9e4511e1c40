# A dispatch job: one container per message, like a Lambda function.
# Each message's body is handed to a fresh container at /docket/message;
# exit 0 deletes the message, a failure retries it with backoff and, after
# max_receives attempts, moves it to the dead-letter queue.

variable "greeting" {
  type    = string
  default = "hello"
}

queue "hello" {
  visibility_timeout = "30s"
  max_receives       = 3
  dead_letter        = "hello-dead"
}

queue "hello-dead" {
  retention = "14d"
}

job "hello" {
  type  = "dispatch"
  queue = "hello"

  scaling {
    min = 0
    max = 4
  }

  task "greet" {
    image   = "oci-archive:./images/hello.tar"
    args    = ["greet", "--greeting", var.greeting]
    timeout = "1m"

    resources {
      cpu    = 100
      memory = 64
    }

    retry {
      delay     = "1s"
      max_delay = "30s"
    }
  }
}
