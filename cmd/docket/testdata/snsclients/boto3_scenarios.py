"""Drives Docket's SNS endpoint with boto3, as a Python producer would:
topics, queue subscriptions with filter policies on attributes and on the
body, publishes with typed attributes, batches with a per-entry failure, the
signed envelope (checked with the certificate at SigningCertURL, as a
subscriber would), tags and errors.

The caller sets DOCKET_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
AWS_DEFAULT_REGION. Prints "ok - ..." per check and exits non-zero at the
first failure.
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["DOCKET_ENDPOINT"]
REGION = os.environ["AWS_DEFAULT_REGION"]
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


cfg = Config(retries={"max_attempts": 1})
sns = boto3.client("sns", endpoint_url=ENDPOINT, config=cfg)
sqs = boto3.client("sqs", endpoint_url=ENDPOINT, config=cfg)
print(f"# boto3 {boto3.__version__}, botocore {botocore.__version__}")
p = f"py{os.getpid()}-"

paid = sqs.create_queue(QueueName=p + "paid")["QueueUrl"]
big = sqs.create_queue(QueueName=p + "big")["QueueUrl"]
topic = sns.create_topic(Name=p + "orders", Attributes={"DisplayName": "Orders"})["TopicArn"]
want("topic ARN", topic, f"arn:aws:sns:{REGION}:000000000000:{p}orders")
sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=f"arn:aws:sqs:{REGION}:000000000000:{p}paid",
              Attributes={"RawMessageDelivery": "true", "FilterPolicy": json.dumps({"kind": ["paid"], "total": [{"numeric": [">", 0]}]})})
sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=f"arn:aws:sqs:{REGION}:000000000000:{p}big",
              Attributes={"FilterPolicyScope": "MessageBody", "FilterPolicy": json.dumps({"order": {"total": [{"numeric": [">=", 100]}]}})})
want("subscriptions", len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]), 2)

small = json.dumps({"order": {"total": 12}})
large = json.dumps({"order": {"total": 150}})
sns.publish(TopicArn=topic, Message=small, MessageAttributes={
    "kind": {"DataType": "String", "StringValue": "paid"}, "total": {"DataType": "Number", "StringValue": "12"}})
msg_id = sns.publish(TopicArn=topic, Message=large, Subject="big one", MessageAttributes={
    "kind": {"DataType": "String", "StringValue": "refund"}})["MessageId"]

got = sqs.receive_message(QueueUrl=paid, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", [])
want("paid got the small paid order, raw", [m["Body"] for m in got], [small])
want("raw delivery keeps the attributes", got[0]["MessageAttributes"]["kind"]["StringValue"], "paid")
got = sqs.receive_message(QueueUrl=big, MaxNumberOfMessages=10).get("Messages", [])
want("big got the large order, by its body", len(got), 1)
env = json.loads(got[0]["Body"])
want("envelope", (env["Type"], env["MessageId"], env["TopicArn"], env["Message"], env["Subject"]),
     ("Notification", msg_id, topic, large, "big one"))

# The signature checks out with the certificate the envelope points to.
cert = urllib.request.urlopen(env["SigningCertURL"]).read()
signed = "".join(f"{k}\n{env[k]}\n" for k in ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"])
with tempfile.TemporaryDirectory() as d:
    open(f"{d}/cert.pem", "wb").write(cert)
    open(f"{d}/signed", "w").write(signed)
    open(f"{d}/sig", "wb").write(base64.b64decode(env["Signature"]))
    pub = subprocess.run(["openssl", "x509", "-in", f"{d}/cert.pem", "-pubkey", "-noout"], capture_output=True, check=True).stdout
    open(f"{d}/pub.pem", "wb").write(pub)
    ok = subprocess.run(["openssl", "dgst", "-sha1", "-verify", f"{d}/pub.pem", "-signature", f"{d}/sig", f"{d}/signed"],
                        capture_output=True)
    want("the notification's signature verifies", ok.returncode, 0)

res = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
    {"Id": "a", "Message": "one"},
    {"Id": "b", "Message": "two", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "many"}}}])
want("batch", ([e["Id"] for e in res["Successful"]], [(e["Id"], e["Code"]) for e in res["Failed"]]), (["a"], [("b", "InvalidParameter")]))

sns.tag_resource(ResourceArn=topic, Tags=[{"Key": "env", "Value": "prod"}])
want("tags", sns.list_tags_for_resource(ResourceArn=topic)["Tags"], [{"Key": "env", "Value": "prod"}])
want_error("unknown topic", "NotFound", sns.get_topic_attributes, TopicArn=f"arn:aws:sns:{REGION}:000000000000:{p}none")
want_error("bad filter policy", "InvalidParameter", sns.subscribe, TopicArn=topic, Protocol="sqs",
           Endpoint=f"arn:aws:sqs:{REGION}:000000000000:{p}paid", Attributes={"FilterPolicy": "{\"a\": [[1]]}"})
want_error("bad attribute type", "InvalidParameter", sns.publish, TopicArn=topic, Message="m",
           MessageAttributes={"a": {"DataType": "Date", "StringValue": "x"}})
sns.delete_topic(TopicArn=topic)
want("topics after delete", [t for t in sns.list_topics()["Topics"] if t["TopicArn"] == topic], [])
print(f"# {checks} checks passed")
