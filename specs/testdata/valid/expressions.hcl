# Variables of several types and the functions expressions may call.

variable "env" {
  type    = string
  default = "Staging"
}

variable "replicas" {
  type    = number
  default = 2
}

variable "zones" {
  type    = list(string)
  default = ["eu-1", "eu-2"]
}

variable "labels" {
  type = map(string)
  default = {
    team = "media"
  }
}

variable "untyped" {
  default = "x"
}

job "web" {
  type     = "service"
  count    = var.replicas * 2
  priority = max(10, min(90, 75))

  constraint {
    attribute = "node.meta.zone"
    operator  = "in"
    value     = join(",", var.zones)
  }

  constraint {
    attribute = "node.name"
    operator  = "regexp"
    value     = "^web-[0-9]+$"
  }

  constraint {
    attribute = "node.arch"
    operator  = "!="
    value     = "arm64"
  }

  task "app" {
    image   = format("nginx:%s", "1.27")
    command = concat(["/bin/sh", "-c"], [trimspace("  exec nginx  ")])
    args    = [for z in var.zones : upper(z)]
    env = merge(var.labels, {
      ENV      = upper(var.env)
      REPLICAS = tostring(var.replicas)
      JSON     = jsonencode({ a = 1 })
      SPLIT    = length(split(",", "a,b,c"))
      UNTYPED  = var.untyped
      REPLACED = replace("a-b-c", "-", "_")
    })
    user         = lower(var.env)
    kill_signal  = "SIGQUIT"
    kill_timeout = "0s"
  }

  task "sidecar" {
    image = "oci-archive:./images/sidecar.tar"

    resources {
      cpu    = 1000000
      memory = 4
    }
  }
}
