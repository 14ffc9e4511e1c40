# What a node agent needs: to register its node, heartbeat and report on
# it, and to watch its allocations.
node "*" {
  capabilities = ["read", "write"]
}
