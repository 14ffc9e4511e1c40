#!/bin/bash
# Same-run comparison: the queue cycle over HTTPS with ACL (bin/docket)
# against plain HTTP without ACL (a build of BASE_REV, by default ef25231,
# the last commit before ACL), each driven by bin/docket's `bench queue`,
# in rounds of alternating order. Prints messages/s per round.
#   bench/tls-vs-plain.sh   (ROUNDS=6 DUR=10s BASE_REV=ef25231)
set -e
NEW=${NEW:-bin/docket}; ROUNDS=${ROUNDS:-6}; DUR=${DUR:-10s}; BASE_REV=${BASE_REV:-ef25231}
W=$(mktemp -d)
git worktree add -q $W/src $BASE_REV
(cd $W/src && go build -o $W/docket-base ./cmd/docket)
git worktree remove --force $W/src
BASE=$W/docket-base
$NEW tls ca create --dir $W >/dev/null; $NEW tls cert create --server --dir $W >/dev/null; $NEW tls cert create --cli --dir $W >/dev/null
$BASE server --data-dir $W/base --http-addr 127.0.0.1:18801 2>$W/base.log & BP=$!
$NEW server --data-dir $W/new --http-addr 127.0.0.1:18802 --tls-cert $W/docket-server.pem --tls-key $W/docket-server-key.pem --tls-ca $W/docket-ca.pem 2>$W/new.log & NP=$!
trap "kill $BP $NP; wait; rm -rf $W" EXIT
sleep 1
export DOCKET_CACERT=$W/docket-ca.pem DOCKET_CLIENT_CERT=$W/docket-cli.pem DOCKET_CLIENT_KEY=$W/docket-cli-key.pem
TOKEN=$(DOCKET_ADDR=127.0.0.1:18802 $NEW acl bootstrap -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret_id"])')
run() { # $1 = base|new
  if [ $1 = base ]; then env -u DOCKET_CACERT -u DOCKET_CLIENT_CERT -u DOCKET_CLIENT_KEY DOCKET_ADDR=http://127.0.0.1:18801 $NEW bench queue -d $DUR
  else DOCKET_ADDR=127.0.0.1:18802 DOCKET_TOKEN=$TOKEN $NEW bench queue -d $DUR; fi > $W/out.$1; cat $W/out.$1 >&2; awk '/throughput/{print $2}' $W/out.$1
}
for r in $(seq $ROUNDS); do
  if [ $((r % 2)) = 1 ]; then order="base new"; else order="new base"; fi
  for s in $order; do v=$(run $s); echo "round $r $s $v"; done
done
