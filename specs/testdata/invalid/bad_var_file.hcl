#@ var-file testdata/invalid/bad_var_file.vars
variable "quality" {
  type = number
}

variable "names" {
  type    = list(string)
  default = []
}

job "web" {
  task "main" {
    image = "busybox"
    args  = concat(["--quality", var.quality], var.names)
  }
}
