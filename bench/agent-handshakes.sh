#!/bin/bash
# Agent TLS handshakes at steady state: a TLS server and an idle TLS
# agent on a private containerd; the agent's handshakes
# counted by the server between minute 1 and minute 1+M.
#   bench/agent-handshakes.sh   (M=10; needs root and containerd)
set -e
NEW=${NEW:-bin/docket}; M=${M:-10}
W=$(mktemp -d)
cat > $W/ctd.toml <<C
version = 2
root = "$W/ctd/root"
state = "$W/ctd/state"
[grpc]
  address = "$W/ctd.sock"
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$W/ctd/opt"
C
containerd --config $W/ctd.toml >$W/ctd.log 2>&1 & CP=$!
$NEW tls ca create --dir $W >/dev/null; $NEW tls cert create --server --dir $W >/dev/null; $NEW tls cert create --agent --dir $W >/dev/null
$NEW server --data-dir $W/server --http-addr 127.0.0.1:18803 --tls-cert $W/docket-server.pem --tls-key $W/docket-server-key.pem --tls-ca $W/docket-ca.pem 2>$W/server.log & SP=$!
trap "kill \$AP \$SP; sleep 2; kill $CP; wait; rm -rf $W" EXIT
sleep 1
export DOCKET_CACERT=$W/docket-ca.pem DOCKET_ADDR=127.0.0.1:18803
export DOCKET_TOKEN=$($NEW acl bootstrap -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret_id"])')
$NEW agent --server 127.0.0.1:18803 --data-dir $W/agent --containerd $W/ctd.sock --tls-ca $W/docket-ca.pem --tls-cert $W/docket-agent.pem --tls-key $W/docket-agent-key.pem 2>$W/agent.log & AP=$!
count() { curl -s --cacert $W/docket-ca.pem -H "X-Docket-Token: $DOCKET_TOKEN" https://127.0.0.1:18803/metrics | awk '/^docket_tls_handshakes_total\{role="agent"\}/{print $2}'; }
sleep 60
a=$(count); echo "after 1 min: $a agent handshakes"
sleep $((M*60))
b=$(count); echo "after $((M+1)) min: $b agent handshakes"
echo "steady state: $((b-a)) in $M min = $(( (b-a)*60/M )) per hour"
