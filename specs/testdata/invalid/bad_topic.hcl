queue "billing" {}

topic "orders!" {
  subscription {
    queue = "billing"
  }
}

topic "events" {
  subscription {
    queue = "nowhere"
  }
  subscription {
    queue         = "billing"
    filter_policy = jsonencode({ kind = "paid" })
  }
  subscription {
    queue         = "billing"
    filter_scope  = "Everything"
  }
  subscription {
    raw = "yes"
  }
}
