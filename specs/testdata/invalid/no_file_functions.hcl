job "web" {
  task "main" {
    image = file("image.txt")
    args  = [templatefile("args.tpl", {})]
    env   = { HOST = upper(var.host) }
  }
}
