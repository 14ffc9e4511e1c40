# A file with a variable but nothing to run.

variable "unused" {
  default = 1
}
