# A dispatch job without a scaling block gets the default cap on concurrent
# tasks; its task gets the default retry backoff.

queue "jobs" {
}

job "convert" {
  type  = "dispatch"
  queue = "jobs"

  task "convert" {
    image   = "registry.example.com/tools/convert:1.4"
    timeout = "0s"

    retry {
      delay = "10m"
    }
  }
}
