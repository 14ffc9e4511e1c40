# CI: submit and scale jobs, create the queues their files define, and
# read their logs.
job "*" {
  capabilities = ["read", "submit", "scale", "logs"]
}
queue "*" {
  capabilities = ["read", "write", "receive"]
}
