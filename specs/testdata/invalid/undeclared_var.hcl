#@ var nope=1
#@ var-file testdata/invalid/undeclared_var.vars
variable "quality" {
  type    = number
  default = 80
}

job "web" {
  task "main" {
    image = "busybox"
  }
}
