#!/usr/bin/env bash
# Drives Docket's SNS endpoint with the AWS CLI, as an operator would:
# topics with attributes and tags, queue subscriptions with raw delivery and
# filter policies, publishes (typed attributes, batches), the deliveries
# read back from the queues with the SQS commands, the notification's
# envelope, and the errors a script checks for.
#
# The caller sets DOCKET_ENDPOINT (http://HOST:PORT), AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION; AWS names the CLI (default
# aws). Prints "ok - ..." per check; exits non-zero at the first failure.
set -euo pipefail

: "${DOCKET_ENDPOINT:?set DOCKET_ENDPOINT}"
AWS=${AWS:-aws}
export AWS_PAGER="" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
p="cli$$-"
checks=0
region=${AWS_DEFAULT_REGION}

sns() { "$AWS" --endpoint-url "$DOCKET_ENDPOINT" --output text sns "$@"; }
sqs() { "$AWS" --endpoint-url "$DOCKET_ENDPOINT" --output text sqs "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
want() { # want WHAT GOT WANT
	[[ "$2" == "$3" ]] || fail "$1: got '$2', want '$3'"
	checks=$((checks + 1))
	echo "ok - $1"
}
want_error() { # want_error WHAT CODE COMMAND...
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

billing=$(sqs create-queue --queue-name "${p}billing" --query QueueUrl)
audit=$(sqs create-queue --queue-name "${p}audit" --query QueueUrl)
topic=$(sns create-topic --name "${p}orders" --attributes DisplayName=Orders --tags Key=team,Value=a --query TopicArn)
want "topic ARN" "$topic" "arn:aws:sns:$region:000000000000:${p}orders"
want "create-topic again" "$(sns create-topic --name "${p}orders" --query TopicArn)" "$topic"
sns list-topics --query 'Topics[].TopicArn' >"$tmp/topics"
grep -q -- "$topic" "$tmp/topics" || fail "list-topics lacks $topic"
checks=$((checks + 1)); echo "ok - list-topics"
sns set-topic-attributes --topic-arn "$topic" --attribute-name DisplayName --attribute-value "All orders"
want "DisplayName" "$(sns get-topic-attributes --topic-arn "$topic" --query Attributes.DisplayName)" "All orders"

sub=$(sns subscribe --topic-arn "$topic" --protocol sqs --notification-endpoint "arn:aws:sqs:$region:000000000000:${p}billing" \
	--attributes '{"RawMessageDelivery":"true","FilterPolicy":"{\"kind\":[\"paid\"]}"}' --return-subscription-arn --query SubscriptionArn)
[[ "$sub" == "$topic":* ]] || fail "subscription ARN $sub"
checks=$((checks + 1)); echo "ok - subscribe billing"
sns subscribe --topic-arn "$topic" --protocol sqs --notification-endpoint "arn:aws:sqs:$region:000000000000:${p}audit" >/dev/null
want "subscriptions of the topic" "$(sns list-subscriptions-by-topic --topic-arn "$topic" --query 'length(Subscriptions)')" "2"
want "RawMessageDelivery" "$(sns get-subscription-attributes --subscription-arn "$sub" --query Attributes.RawMessageDelivery)" "true"
sns set-subscription-attributes --subscription-arn "$sub" --attribute-name FilterPolicy --attribute-value '{"kind":["paid","refund"]}'
want "FilterPolicy" "$(sns get-subscription-attributes --subscription-arn "$sub" --query Attributes.FilterPolicy)" '{"kind":["paid","refund"]}'

id=$(sns publish --topic-arn "$topic" --message '{"order":1}' --subject paid \
	--message-attributes '{"kind":{"DataType":"String","StringValue":"paid"},"total":{"DataType":"Number","StringValue":"12.5"}}' --query MessageId)
[[ -n "$id" ]] || fail "publish returned no MessageId"
checks=$((checks + 1)); echo "ok - publish"
sns publish --topic-arn "$topic" --message cancelled --message-attributes '{"kind":{"DataType":"String","StringValue":"cancelled"}}' >/dev/null
want "billing got the paid order raw" "$(sqs receive-message --queue-url "$billing" --max-number-of-messages 10 --query 'Messages[].Body')" '{"order":1}'
"$AWS" --endpoint-url "$DOCKET_ENDPOINT" --output json sqs receive-message --queue-url "$audit" --max-number-of-messages 10 >"$tmp/audit.json"
grep -q '\\"Type\\": *\\"Notification\\"\|\\"Type\\":\\"Notification\\"' "$tmp/audit.json" || fail "audit's delivery is no envelope: $(cat "$tmp/audit.json")"
grep -q "$id" "$tmp/audit.json" || fail "audit's envelope lacks MessageId $id"
checks=$((checks + 1)); echo "ok - audit got both in envelopes"

sns publish-batch --topic-arn "$topic" --publish-batch-request-entries \
	'Id=a,Message=one' 'Id=b,Message=two,MessageAttributes={n={DataType=Number,StringValue=many}}' --output json >"$tmp/batch.json"
grep -q '"Id": "a"' "$tmp/batch.json" && grep -q '"Code": "InvalidParameter"' "$tmp/batch.json" || fail "publish-batch: $(cat "$tmp/batch.json")"
checks=$((checks + 1)); echo "ok - publish-batch with a failed entry"

sns tag-resource --resource-arn "$topic" --tags Key=env,Value=prod
sns untag-resource --resource-arn "$topic" --tag-keys team
want "tags" "$(sns list-tags-for-resource --resource-arn "$topic" --query 'Tags[].Key')" "env"

want_error "publish to an unknown topic" NotFound sns publish --topic-arn "arn:aws:sns:$region:000000000000:${p}none" --message m
want_error "an invalid filter policy" InvalidParameter sns subscribe --topic-arn "$topic" --protocol sqs \
	--notification-endpoint "arn:aws:sqs:$region:000000000000:${p}audit" --attributes '{"FilterPolicy":"{\"a\":\"b\"}"}'
head -c 262145 /dev/zero | tr '\0' x >"$tmp/big"
want_error "an oversized message" InvalidParameter sns publish --topic-arn "$topic" --message "file://$tmp/big"

sns unsubscribe --subscription-arn "$sub"
want "subscriptions after unsubscribe" "$(sns list-subscriptions-by-topic --topic-arn "$topic" --query 'length(Subscriptions)')" "1"
sns delete-topic --topic-arn "$topic"
want_error "a deleted topic" NotFound sns get-topic-attributes --topic-arn "$topic"

echo "# $checks checks passed"
