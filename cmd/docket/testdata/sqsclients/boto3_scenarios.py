"""Drives Docket's SQS endpoint with boto3, as a Python producer and worker
would: queues with a redrive policy, attributes, typed message attributes,
batch sends with a per-entry failure, long polling, visibility, batch
deletes, dead-lettering and, where the client has them, message move tasks.

Debian's python3-boto3 speaks the query protocol to SQS; newer botocore
releases speak JSON. The caller sets DOCKET_SQS_ENDPOINT, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION. Prints "ok - ..." per check and
exits non-zero at the first failure.
"""

import hashlib
import json
import os
import sys
import threading
import time

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["DOCKET_SQS_ENDPOINT"]
checks = 0


def want(what, got, expected):
    global checks
    if got != expected:
        print(f"FAIL: {what}: got {got!r}, want {expected!r}", file=sys.stderr)
        sys.exit(1)
    checks += 1
    print(f"ok - {what}")


def want_error(what, code, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        want(f"{what} ({code})", e.response["Error"]["Code"], code)
        return
    print(f"FAIL: {what}: succeeded, want error {code}", file=sys.stderr)
    sys.exit(1)


def client(**kw):
    return boto3.client("sqs", endpoint_url=ENDPOINT,
                        config=Config(retries={"max_attempts": 1}), **kw)


sqs = client()
protocol = sqs.meta.service_model.protocol
print(f"# boto3 {boto3.__version__}, botocore {botocore.__version__}, protocol {protocol}")
p = f"py{os.getpid()}-{protocol}-"

# Queues.
dlq = sqs.create_queue(QueueName=p + "dlq")["QueueUrl"]
want("dead-letter queue URL", dlq, f"{ENDPOINT}/000000000000/{p}dlq")
dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
q = sqs.create_queue(QueueName=p + "work", Attributes={
    "VisibilityTimeout": "30",
    "RedrivePolicy": f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"2"}}',
}, tags={"team": "ops"})["QueueUrl"]
want("get_queue_url", sqs.get_queue_url(QueueName=p + "work")["QueueUrl"], q)
want("list_queues", sorted(sqs.list_queues(QueueNamePrefix=p)["QueueUrls"]), sorted([dlq, q]))
want("list_queue_tags", sqs.list_queue_tags(QueueUrl=q)["Tags"], {"team": "ops"})
sqs.set_queue_attributes(QueueUrl=q, Attributes={"VisibilityTimeout": "20", "ReceiveMessageWaitTimeSeconds": "1"})
attrs = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["All"])["Attributes"]
want("attributes", (attrs["VisibilityTimeout"], attrs["ReceiveMessageWaitTimeSeconds"], attrs["DelaySeconds"]), ("20", "1", "0"))

# Send with typed attributes; the MD5s are SQS's.
body = "héllo <boto3> & \"sqs\" \U0001F680"
sent = sqs.send_message(QueueUrl=q, MessageBody=body, MessageAttributes={
    "color": {"DataType": "String", "StringValue": "blue"},
    "n": {"DataType": "Number", "StringValue": "7"},
    "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
    "kind": {"DataType": "String.custom", "StringValue": "x"},
})
want("MD5OfMessageBody", sent["MD5OfMessageBody"], hashlib.md5(body.encode()).hexdigest())
want("MD5OfMessageAttributes present", len(sent.get("MD5OfMessageAttributes", "")), 32)

# A batch with one entry SQS refuses (a character it forbids): the others
# are sent, that one is reported.
res = sqs.send_message_batch(QueueUrl=q, Entries=[
    {"Id": "a", "MessageBody": "batch a"},
    {"Id": "bad", "MessageBody": "bad \ufffe"},
    {"Id": "b", "MessageBody": "batch b"},
])
want("batch successes", sorted(e["Id"] for e in res.get("Successful", [])), ["a", "b"])
want("batch failure", [(e["Id"], e["SenderFault"]) for e in res.get("Failed", [])], [("bad", True)])
want_error("duplicate batch ids", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", sqs.send_message_batch,
           QueueUrl=q, Entries=[{"Id": "x", "MessageBody": "1"}, {"Id": "x", "MessageBody": "2"}])

# Receive the three messages with every attribute.
got = []
for _ in range(10):
    got += sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                               AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
    if len(got) >= 3:
        break
want("received bodies", sorted(m["Body"] for m in got), sorted([body, "batch a", "batch b"]))
first = next(m for m in got if m["Body"] == body)
ma = first["MessageAttributes"]
want("typed attributes", (ma["color"]["StringValue"], ma["n"]["DataType"], ma["raw"]["BinaryValue"], ma["kind"]["DataType"]),
     ("blue", "Number", b"\x00\x01\xff", "String.custom"))
want("system attributes", (first["Attributes"]["ApproximateReceiveCount"], "SentTimestamp" in first["Attributes"]), ("1", True))
want("MD5OfBody on receive", first["MD5OfBody"], hashlib.md5(body.encode()).hexdigest())

# Visibility: one message back at once, received again with count 2.
other = [m for m in got if m is not first]
sqs.change_message_visibility_batch(QueueUrl=q, Entries=[
    {"Id": "v", "ReceiptHandle": other[0]["ReceiptHandle"], "VisibilityTimeout": 0}])
again = sqs.receive_message(QueueUrl=q, WaitTimeSeconds=2, AttributeNames=["ApproximateReceiveCount"])["Messages"]
want("received again", (again[0]["Body"], again[0]["Attributes"]["ApproximateReceiveCount"]), (other[0]["Body"], "2"))
res = sqs.delete_message_batch(QueueUrl=q, Entries=[
    {"Id": "stale", "ReceiptHandle": other[0]["ReceiptHandle"]},
    {"Id": "1", "ReceiptHandle": first["ReceiptHandle"]},
    {"Id": "2", "ReceiptHandle": other[1]["ReceiptHandle"]},
    {"Id": "3", "ReceiptHandle": again[0]["ReceiptHandle"]},
])
# The stale receipt (from before the message was received again) succeeds
# without deleting, as SQS documents; the fresh one deletes it.
want("delete batch", (sorted(e["Id"] for e in res["Successful"]), [(e["Id"], e["Code"]) for e in res.get("Failed", [])]),
     (["1", "2", "3", "stale"], []))
want_error("delete with a garbage receipt", "ReceiptHandleIsInvalid", sqs.delete_message, QueueUrl=q, ReceiptHandle="garbage")

# Long polling: a receive waiting on an empty queue returns the message
# sent while it waits.
out = {}
poll = threading.Thread(target=lambda: out.update(sqs.receive_message(QueueUrl=q, WaitTimeSeconds=10)))
poll.start()
time.sleep(0.2)  # let the receive reach the server; the test holds either way
sqs.send_message(QueueUrl=q, MessageBody="long poll")
poll.join()
want("long poll", [m["Body"] for m in out.get("Messages", [])], ["long poll"])
sqs.delete_message(QueueUrl=q, ReceiptHandle=out["Messages"][0]["ReceiptHandle"])

# Dead-lettering after two receives, then back through a move task when
# the client knows the actions (botocore added them in 2023).
sqs.send_message(QueueUrl=q, MessageBody="poison")
for i in (1, 2):
    m = sqs.receive_message(QueueUrl=q, WaitTimeSeconds=2, VisibilityTimeout=0,
                            AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    want(f"poison receive {i}", (m["Body"], m["Attributes"]["ApproximateReceiveCount"]), ("poison", str(i)))
want("moved past max receives", sqs.receive_message(QueueUrl=q, WaitTimeSeconds=0).get("Messages", []), [])
want("dead-letter queue depth", sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
     ["Attributes"]["ApproximateNumberOfMessages"], "1")
want("list_dead_letter_source_queues", sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"], [q])
if "StartMessageMoveTask" in sqs.meta.service_model.operation_names:
    sqs.start_message_move_task(SourceArn=dlq_arn)
    for _ in range(50):
        tasks = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
        if tasks and tasks[0]["Status"] != "RUNNING":
            break
        time.sleep(0.1)
    want("move task", (tasks[0]["Status"], tasks[0]["ApproximateNumberOfMessagesMoved"]), ("COMPLETED", 1))
    back = sqs.receive_message(QueueUrl=q, WaitTimeSeconds=2)["Messages"]
    want("moved back", [m["Body"] for m in back], ["poison"])
    sqs.delete_message(QueueUrl=q, ReceiptHandle=back[0]["ReceiptHandle"])
else:
    print("# this botocore has no message move tasks; skipped")

# FIFO queues.
fdlq = sqs.create_queue(QueueName=p + "dead.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
fdlq_arn = sqs.get_queue_attributes(QueueUrl=fdlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
fq = sqs.create_queue(QueueName=p + "orders.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
want("FIFO attributes", {k: v for k, v in sqs.get_queue_attributes(QueueUrl=fq, AttributeNames=["All"])["Attributes"].items()
                          if k in ("FifoQueue", "ContentBasedDeduplication")}, {"FifoQueue": "true", "ContentBasedDeduplication": "true"})
first = sqs.send_message(QueueUrl=fq, MessageBody="a0", MessageGroupId="a")
dup = sqs.send_message(QueueUrl=fq, MessageBody="a0", MessageGroupId="a")
want("a duplicate answers the first message", (dup["MessageId"], dup["SequenceNumber"]), (first["MessageId"], first["SequenceNumber"]))
want_error("a FIFO send without a group", "MissingParameter", sqs.send_message, QueueUrl=fq, MessageBody="x")


def send_group(g):
    for n in range(1, 11):
        sqs.send_message(QueueUrl=fq, MessageBody=f"{g}{n}", MessageGroupId=g)


senders = [threading.Thread(target=send_group, args=(g,)) for g in "abcd"]
for th in senders:
    th.start()
for th in senders:
    th.join()
seen = {g: [] for g in "abcd"}
attempt = sqs.receive_message(QueueUrl=fq, MaxNumberOfMessages=10, ReceiveRequestAttemptId="try-1",
                              AttributeNames=["All"])["Messages"]
retried = sqs.receive_message(QueueUrl=fq, MaxNumberOfMessages=10, ReceiveRequestAttemptId="try-1")["Messages"]
want("a retried receive attempt returns the same messages", [m["ReceiptHandle"] for m in retried], [m["ReceiptHandle"] for m in attempt])
want("a receive takes group a's run first, in order", [m["Body"] for m in attempt], [f"a{n}" for n in range(10)])
want("group and sequence number", (attempt[0]["Attributes"]["MessageGroupId"], attempt[0]["Attributes"]["SequenceNumber"]),
     ("a", first["SequenceNumber"]))
for m in attempt:
    seen["a"].append(m["Body"])
while True:
    got = sqs.receive_message(QueueUrl=fq, MaxNumberOfMessages=10).get("Messages", [])
    if not got:
        break
    groups = {m["Body"][0] for m in got}
    want(f"a receive holds none of a group in flight ({sorted(groups)})", bool(groups & {"a"}), False)
    for m in got:
        seen[m["Body"][0]].append(m["Body"])
    sqs.delete_message_batch(QueueUrl=fq, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
sqs.delete_message_batch(QueueUrl=fq, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(attempt)])
left = sqs.receive_message(QueueUrl=fq, MaxNumberOfMessages=10).get("Messages", [])
seen["a"] += [m["Body"] for m in left]
want("every group in order, sent from four threads", seen, {g: ([f"{g}{n}" for n in range(11)] if g == "a" else [f"{g}{n}" for n in range(1, 11)]) for g in "abcd"})
xq = sqs.create_queue(QueueName=p + "x.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true",
                                                         "RedrivePolicy": json.dumps({"deadLetterTargetArn": fdlq_arn, "maxReceiveCount": "1"})})["QueueUrl"]
sqs.send_message(QueueUrl=xq, MessageBody="x1", MessageGroupId="g")
sqs.send_message(QueueUrl=xq, MessageBody="x2", MessageGroupId="g")
x1 = sqs.receive_message(QueueUrl=xq)["Messages"][0]
sqs.change_message_visibility(QueueUrl=xq, ReceiptHandle=x1["ReceiptHandle"], VisibilityTimeout=0)
want("dead-lettering x1 unblocks its group", [m["Body"] for m in sqs.receive_message(QueueUrl=xq)["Messages"]], ["x2"])
want("the FIFO dead-letter queue keeps the group", [(m["Body"], m["Attributes"]["MessageGroupId"]) for m in
     sqs.receive_message(QueueUrl=fdlq, AttributeNames=["MessageGroupId"])["Messages"]], [("x1", "g")])

# A fair queue: the quiet tenant is served before the noisy one.
fair = sqs.create_queue(QueueName=p + "fair")["QueueUrl"]
for i in range(0, 200, 10):
    sqs.send_message_batch(QueueUrl=fair, Entries=[{"Id": str(j), "MessageBody": f"noisy {i + j}", "MessageGroupId": "noisy"} for j in range(10)])
for _ in range(5):
    sqs.receive_message(QueueUrl=fair, MaxNumberOfMessages=10, VisibilityTimeout=60)
sqs.send_message(QueueUrl=fair, MessageBody="quiet", MessageGroupId="quiet")
want("the quiet tenant first", sqs.receive_message(QueueUrl=fair, MaxNumberOfMessages=10)["Messages"][0]["Body"], "quiet")

# SQS's documented details.
big = "m" * (1 << 20)
want("a 1 MiB message", sqs.send_message(QueueUrl=fair, MessageBody=big)["MD5OfMessageBody"], hashlib.md5(big.encode()).hexdigest())
want("MaximumMessageSize default", sqs.get_queue_attributes(QueueUrl=fair, AttributeNames=["MaximumMessageSize"])["Attributes"],
     {"MaximumMessageSize": "1048576"})
sqs.add_permission(QueueUrl=fair, Label="senders", AWSAccountIds=["111122223333"], Actions=["SendMessage"])
pol = json.loads(sqs.get_queue_attributes(QueueUrl=fair, AttributeNames=["Policy"])["Attributes"]["Policy"])
want("AddPermission writes the policy", [st["Sid"] for st in pol["Statement"]], ["senders"])
sqs.remove_permission(QueueUrl=fair, Label="senders")
want("RemovePermission", "Policy" in sqs.get_queue_attributes(QueueUrl=fair, AttributeNames=["Policy"]).get("Attributes", {}), False)
want("LastModifiedTimestamp", "LastModifiedTimestamp" in sqs.get_queue_attributes(QueueUrl=fair, AttributeNames=["All"])["Attributes"], True)
sqs.purge_queue(QueueUrl=fair)
tq = sqs.create_queue(QueueName=p + "traced", tags={"a": "1", "empty": ""})["QueueUrl"]
want("an empty tag value stays empty", sqs.list_queue_tags(QueueUrl=tq)["Tags"], {"a": "1", "empty": ""})
trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
sqs.send_message(QueueUrl=tq, MessageBody="t", MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String", "StringValue": trace}},
                 MessageAttributes={"Custom.a": {"DataType": "String", "StringValue": "1"}, "Other": {"DataType": "String", "StringValue": "2"}})
m = sqs.receive_message(QueueUrl=tq, MessageAttributeNames=["Custom.*"], AttributeNames=["AWSTraceHeader"])["Messages"][0]
want("AWSTraceHeader and a prefix", (m["Attributes"]["AWSTraceHeader"], sorted(m["MessageAttributes"])), (trace, ["Custom.a"]))
sqs.change_message_visibility(QueueUrl=tq, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
sqs.receive_message(QueueUrl=tq)
sqs.delete_message(QueueUrl=tq, ReceiptHandle=m["ReceiptHandle"])  # the earlier receipt: succeeds, deletes nothing
want("a delete with an earlier receipt leaves the message", sqs.get_queue_attributes(QueueUrl=tq, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
     ["Attributes"]["ApproximateNumberOfMessagesNotVisible"], "1")
for u in (fq, xq, fdlq, fair, tq):
    sqs.delete_queue(QueueUrl=u)

# Errors and authentication.
want_error("unknown queue", "AWS.SimpleQueueService.NonExistentQueue", sqs.get_queue_url, QueueName=p + "missing")
want_error("receive 11", "InvalidParameterValue", sqs.receive_message, QueueUrl=q, MaxNumberOfMessages=11)
want_error("wrong secret", "SignatureDoesNotMatch",
           client(aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"], aws_secret_access_key="wrong").list_queues)

sqs.delete_queue(QueueUrl=q)
sqs.delete_queue(QueueUrl=dlq)
want("queues deleted", sqs.list_queues(QueueNamePrefix=p).get("QueueUrls", []), [])
print(f"# {checks} checks passed")
