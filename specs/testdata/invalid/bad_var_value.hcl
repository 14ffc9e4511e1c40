#@ var quality=high
#@ var tags=[a, b
#@ env DOCKET_VAR_count=three
variable "quality" {
  type = number
}

variable "tags" {
  type = list(string)
}

variable "count" {
  type    = number
  default = 1
}

job "web" {
  count = var.count

  task "main" {
    image = "busybox"
    args  = concat(["--quality", var.quality], var.tags)
  }
}
