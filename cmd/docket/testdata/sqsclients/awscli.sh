#!/usr/bin/env bash
# Drives Docket's SQS endpoint with the AWS CLI, as an operator would:
# queues with a redrive policy and tags, attributes, sends, batch sends,
# receives with attributes, visibility changes, batch deletes with a stale
# receipt, dead-lettering, purge, deletion, a FIFO queue and the errors a
# script checks for. Debian's awscli speaks the query protocol to SQS.
#
# The caller sets DOCKET_SQS_ENDPOINT (http://HOST:PORT), AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION; AWS names the CLI (default
# aws). Prints "ok - ..." per check; exits non-zero at the first failure.
set -euo pipefail

: "${DOCKET_SQS_ENDPOINT:?set DOCKET_SQS_ENDPOINT}"
AWS=${AWS:-aws}
export AWS_PAGER="" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
p="cli$$-"
checks=0

sqs() { "$AWS" --endpoint-url "$DOCKET_SQS_ENDPOINT" --output text sqs "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
want() { # want WHAT GOT WANT
	[[ "$2" == "$3" ]] || fail "$1: got '$2', want '$3'"
	checks=$((checks + 1))
	echo "ok - $1"
}
# want_error WHAT CODE COMMAND...: the command fails and names the SQS error.
want_error() {
	local what=$1 code=$2
	shift 2
	if "$@" >"$tmp/out" 2>"$tmp/err"; then
		fail "$what: succeeded, want error $code"
	fi
	grep -q -- "$code" "$tmp/err" || fail "$what: want error $code, got: $(cat "$tmp/err")"
	checks=$((checks + 1))
	echo "ok - $what ($code)"
}

echo "# $("$AWS" --version 2>&1)"

# Queues: a dead-letter queue, and a work queue redriving to it, with tags.
dlq=$(sqs create-queue --queue-name "${p}dlq" --query QueueUrl)
want "dead-letter queue URL" "$dlq" "$DOCKET_SQS_ENDPOINT/000000000000/${p}dlq"
dlq_arn=$(sqs get-queue-attributes --queue-url "$dlq" --attribute-names QueueArn --query Attributes.QueueArn)
[[ "$dlq_arn" == arn:aws:sqs:*:000000000000:"${p}dlq" ]] || fail "QueueArn: got $dlq_arn"
cat >"$tmp/attrs.json" <<JSON
{"VisibilityTimeout": "30", "DelaySeconds": "0",
 "RedrivePolicy": "{\"deadLetterTargetArn\":\"$dlq_arn\",\"maxReceiveCount\":\"2\"}"}
JSON
q=$(sqs create-queue --queue-name "${p}work" --attributes "file://$tmp/attrs.json" --tags team=ops,env=dev --query QueueUrl)
want "create again with the same attributes" \
	"$(sqs create-queue --queue-name "${p}work" --attributes VisibilityTimeout=30 --query QueueUrl)" "$q"
want_error "create again with other attributes" QueueAlreadyExists \
	sqs create-queue --queue-name "${p}work" --attributes VisibilityTimeout=31
want "get-queue-url" "$(sqs get-queue-url --queue-name "${p}work" --query QueueUrl)" "$q"
want "list-queues by prefix" "$(sqs list-queues --queue-name-prefix "$p" --query 'QueueUrls[]' | tr '\t' ' ')" "$dlq $q"
want "redrive policy" "$(sqs get-queue-attributes --queue-url "$q" --attribute-names RedrivePolicy --query Attributes.RedrivePolicy)" \
	"{\"deadLetterTargetArn\":\"$dlq_arn\",\"maxReceiveCount\":2}"
sqs set-queue-attributes --queue-url "$q" --attributes VisibilityTimeout=20,MessageRetentionPeriod=3600
want "set-queue-attributes" \
	"$(sqs get-queue-attributes --queue-url "$q" --attribute-names VisibilityTimeout MessageRetentionPeriod --query '[Attributes.VisibilityTimeout,Attributes.MessageRetentionPeriod]' | tr '\t' ' ')" "20 3600"

# Tags.
want "tags from create-queue" "$(sqs list-queue-tags --queue-url "$q" --query 'Tags.[env,team]' | tr '\t' ' ')" "dev ops"
sqs tag-queue --queue-url "$q" --tags env=prod,cost=42
sqs untag-queue --queue-url "$q" --tag-keys team
want "tag-queue and untag-queue" "$(sqs list-queue-tags --queue-url "$q" --query 'Tags' --output json | tr -d ' \n')" '{"cost":"42","env":"prod"}'

# Send: one message with typed attributes, then a batch.
body='hello <docket> & "sqs"'
md5=$(printf '%s' "$body" | md5sum | cut -d' ' -f1)
want "send-message MD5OfMessageBody" "$(sqs send-message --queue-url "$q" --message-body "$body" \
	--message-attributes '{"color":{"DataType":"String","StringValue":"blue"},"n":{"DataType":"Number","StringValue":"7"}}' \
	--query MD5OfMessageBody)" "$md5"
cat >"$tmp/batch.json" <<'JSON'
[{"Id": "a", "MessageBody": "batch a"},
 {"Id": "b", "MessageBody": "batch b", "DelaySeconds": 0},
 {"Id": "c", "MessageBody": "batch c", "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}}]
JSON
want "send-message-batch" "$(sqs send-message-batch --queue-url "$q" --entries "file://$tmp/batch.json" --query 'length(Successful)')" "3"
for i in $(seq 1 11); do printf '{"Id":"e%d","MessageBody":"x"}\n' "$i"; done | paste -sd, | sed 's/^/[/; s/$/]/' >"$tmp/eleven.json"
want_error "a batch of 11" TooManyEntriesInBatchRequest sqs send-message-batch --queue-url "$q" --entries "file://$tmp/eleven.json"
want "ApproximateNumberOfMessages" "$(sqs get-queue-attributes --queue-url "$q" --attribute-names ApproximateNumberOfMessages --query Attributes.ApproximateNumberOfMessages)" "4"

# Receive all four with their attributes.
: >"$tmp/received"
for _ in $(seq 1 10); do
	sqs receive-message --queue-url "$q" --max-number-of-messages 10 --wait-time-seconds 1 \
		--attribute-names All --message-attribute-names All --output json >"$tmp/r.json"
	python3 - "$tmp/r.json" >>"$tmp/received" <<'PY'
import json, sys
for m in json.load(open(sys.argv[1])).get("Messages", []):
    a = m.get("MessageAttributes", {})
    print("\t".join([m["Body"], m["ReceiptHandle"], m["Attributes"]["ApproximateReceiveCount"],
                     a.get("color", {}).get("StringValue", "-"), a.get("n", {}).get("DataType", "-")]))
PY
	[[ $(wc -l <"$tmp/received") -ge 4 ]] && break
done
want "received bodies" "$(cut -f1 "$tmp/received" | sort | paste -sd'|')" "batch a|batch b|batch c|$body"
want "message attributes and receive count" "$(grep -F "$body" "$tmp/received" | cut -f3-5 | tr '\t' ' ')" "1 blue Number"
want "in flight" "$(sqs get-queue-attributes --queue-url "$q" --attribute-names ApproximateNumberOfMessagesNotVisible --query Attributes.ApproximateNumberOfMessagesNotVisible)" "4"

# Make "batch a" visible again and receive it a second time: its old
# receipt is then stale, and a batch delete with it succeeds without
# deleting, as SQS documents (the stale one comes first; the fresh one
# deletes the message).
old=$(grep '^batch a' "$tmp/received" | cut -f2)
sqs change-message-visibility --queue-url "$q" --receipt-handle "$old" --visibility-timeout 0
again=$(sqs receive-message --queue-url "$q" --wait-time-seconds 1 --attribute-names ApproximateReceiveCount \
	--query 'Messages[0].[Body,ReceiptHandle,Attributes.ApproximateReceiveCount]')
want "received again" "$(cut -f1,3 <<<"$again" | tr '\t' ' ')" "batch a 2"
n=0
{
	printf '['
	while IFS=$'\t' read -r b r _; do
		[[ $b == "batch a" ]] && continue
		printf '{"Id":"m%d","ReceiptHandle":"%s"},' "$n" "$r"
		n=$((n + 1))
	done <"$tmp/received"
	printf '{"Id":"stale","ReceiptHandle":"%s"},{"Id":"fresh","ReceiptHandle":"%s"}]' "$old" "$(cut -f2 <<<"$again")"
} >"$tmp/delete.json"
sqs delete-message-batch --queue-url "$q" --entries "file://$tmp/delete.json" --output json >"$tmp/deleted.json"
want "delete-message-batch with a stale receipt" "$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(len(d.get("Successful", [])), [(f["Id"], f["Code"]) for f in d.get("Failed", [])])' "$tmp/deleted.json")" \
	"5 []"
want "queue empty" "$(sqs get-queue-attributes --queue-url "$q" --attribute-names ApproximateNumberOfMessages ApproximateNumberOfMessagesNotVisible \
	--query '[Attributes.ApproximateNumberOfMessages,Attributes.ApproximateNumberOfMessagesNotVisible]' | tr '\t' ' ')" "0 0"

# Dead-lettering: a message received twice (maxReceiveCount 2) and not
# deleted goes to the dead-letter queue on the next receive.
sqs send-message --queue-url "$q" --message-body poison >/dev/null
for i in 1 2; do
	got=$(sqs receive-message --queue-url "$q" --wait-time-seconds 1 --visibility-timeout 0 --attribute-names ApproximateReceiveCount \
		--query 'Messages[0].[Body,Attributes.ApproximateReceiveCount]' | tr '\t' ' ')
	want "poison receive $i" "$got" "poison $i"
done
want "nothing left after max receives" "$(sqs receive-message --queue-url "$q" --wait-time-seconds 1 --query 'length(Messages || `[]`)')" "0"
dead=$(sqs receive-message --queue-url "$dlq" --wait-time-seconds 2 --query 'Messages[0].[Body,ReceiptHandle]')
want "dead-lettered body" "$(cut -f1 <<<"$dead")" "poison"
sqs delete-message --queue-url "$dlq" --receipt-handle "$(cut -f2 <<<"$dead")"
want "list-dead-letter-source-queues" "$(sqs list-dead-letter-source-queues --queue-url "$dlq" --query 'queueUrls[]')" "$q"

# Purge.
sqs send-message --queue-url "$q" --message-body one >/dev/null
sqs send-message --queue-url "$q" --message-body two >/dev/null
sqs purge-queue --queue-url "$q"
want "purge-queue" "$(sqs get-queue-attributes --queue-url "$q" --attribute-names ApproximateNumberOfMessages --query Attributes.ApproximateNumberOfMessages)" "0"

# A FIFO queue: a group's messages in order, one batch at a time, and a
# resend with the same deduplication id stored once.
fq=$(sqs create-queue --queue-name "${p}jobs.fifo" --attributes FifoQueue=true --query QueueUrl)
one=$(sqs send-message --queue-url "$fq" --message-body one --message-group-id g --message-deduplication-id d1 --query '[MessageId,SequenceNumber]')
want "a resend with the same deduplication id" \
	"$(sqs send-message --queue-url "$fq" --message-body one --message-group-id g --message-deduplication-id d1 --query '[MessageId,SequenceNumber]')" "$one"
sqs send-message --queue-url "$fq" --message-body two --message-group-id g --message-deduplication-id d2 >/dev/null
want "the group's first message" "$(sqs receive-message --queue-url "$fq" --attribute-names MessageGroupId --query 'Messages[0].[Body,Attributes.MessageGroupId]' | tr '\t' ' ')" "one g"
want "nothing more of the group while one is in flight" "$(sqs receive-message --queue-url "$fq" --query 'length(Messages || `[]`)')" "0"
want_error "a FIFO send without a group" MissingParameter sqs send-message --queue-url "$fq" --message-body x --message-deduplication-id d3
sqs delete-queue --queue-url "$fq"

# Errors a script relies on.
want_error "unknown queue" AWS.SimpleQueueService.NonExistentQueue sqs get-queue-url --queue-name "${p}missing"
want_error "bad visibility timeout" InvalidParameterValue \
	sqs receive-message --queue-url "$q" --visibility-timeout 99999999
want_error "bad attribute value" InvalidAttributeValue sqs set-queue-attributes --queue-url "$q" --attributes DelaySeconds=9999
want_error "wrong secret" SignatureDoesNotMatch \
	env AWS_SECRET_ACCESS_KEY=wrong "$AWS" --endpoint-url "$DOCKET_SQS_ENDPOINT" sqs list-queues
want_error "unknown key" InvalidClientTokenId \
	env AWS_ACCESS_KEY_ID=AKIDUNKNOWN "$AWS" --endpoint-url "$DOCKET_SQS_ENDPOINT" sqs list-queues
want_error "dead-letter queue in use" InvalidParameterValue sqs delete-queue --queue-url "$dlq"

# Delete both queues.
sqs delete-queue --queue-url "$q"
sqs delete-queue --queue-url "$dlq"
want "queues deleted" "$(sqs list-queues --queue-name-prefix "$p" --query 'length(QueueUrls || `[]`)')" "0"

echo "# $checks checks passed"
