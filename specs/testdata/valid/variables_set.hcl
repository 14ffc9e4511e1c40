#@ var tag=1.2
#@ var-file testdata/valid/variables_set.vars
#@ env DOCKET_VAR_workers=4
#@ env DOCKET_VAR_undeclared=ignored
#@ var ports=[80, 443]
# Variables set from every source, as the CLI would pass them.

variable "tag" {
  type = string
}

variable "workers" {
  type = number
}

variable "ports" {
  type    = list(number)
  default = []
}

variable "image" {
  default = "busybox"
}

job "web" {
  count = var.workers

  task "main" {
    image = "${var.image}:${var.tag}"
    args  = [for p in var.ports : "--port=${p}"]
  }
}
