# A topic fans orders out: billing gets paid ones as published, audit gets
# every one in SNS's envelope, big-orders those over 100 by their body.
queue "billing" {}
queue "audit" {}
queue "big-orders" {}

topic "orders" {
  subscription {
    queue         = "billing"
    raw           = true
    filter_policy = jsonencode({ kind = ["paid"] })
  }
  subscription {
    queue = "audit"
  }
  subscription {
    queue         = "big-orders"
    filter_scope  = "MessageBody"
    filter_policy = jsonencode({ total = [{ numeric = [">", 100] }] })
  }
}

job "bill" {
  type  = "dispatch"
  queue = "billing"
  task "main" {
    image = "oci-archive:/images/bill.tar"
  }
}
