# A batch job: run a fixed number of containers to successful completion,
# retrying failures, then stop.

job "report" {
  type  = "batch"
  count = 3

  constraint {
    attribute = "node.os"
    value     = "linux"
  }

  constraint {
    operator = "distinct_hosts"
  }

  task "build" {
    image   = "oci-archive:./images/batch.tar"
    args    = ["report", "--rows", "1000"]
    timeout = "5m"

    resources {
      cpu    = 500
      memory = 128
    }

    restart {
      attempts = 1
      delay    = "1s"
    }
  }
}
