"""Drives Docket's SNS endpoint with boto3, as a Python producer would:
topics, queue subscriptions with filter policies on attributes and on the
body, publishes with typed attributes, batches with a per-entry failure, the
signed envelope (checked with the certificate at SigningCertURL, as a
subscriber would), an HTTP endpoint (an http.server in this process) that is
sent a SubscriptionConfirmation, confirmed with ConfirmSubscription and then
sent signed notifications, tags and errors. The server must let deliveries
reach loopback (--endpoint-allow 127.0.0.0/8).

The caller sets DOCKET_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
AWS_DEFAULT_REGION. Prints "ok - ..." per check and exits non-zero at the
first failure.
"""

import base64
import http.server
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
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



def verify(what, env, fields):
    """Checks env's signature with the certificate at its SigningCertURL."""
    cert = urllib.request.urlopen(env["SigningCertURL"]).read()
    signed = "".join(f"{k}\n{env[k]}\n" for k in fields)
    with tempfile.TemporaryDirectory() as d:
        open(f"{d}/cert.pem", "wb").write(cert)
        open(f"{d}/signed", "w").write(signed)
        open(f"{d}/sig", "wb").write(base64.b64decode(env["Signature"]))
        pub = subprocess.run(["openssl", "x509", "-in", f"{d}/cert.pem", "-pubkey", "-noout"], capture_output=True, check=True).stdout
        open(f"{d}/pub.pem", "wb").write(pub)
        ok = subprocess.run(["openssl", "dgst", "-sha1", "-verify", f"{d}/pub.pem", "-signature", f"{d}/sig", f"{d}/signed"],
                            capture_output=True)
        want(what, ok.returncode, 0)


# The signature checks out with the certificate the envelope points to.
verify("the notification's signature verifies", env, ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"])

# An HTTP endpoint: confirmed with the token it is sent, then notified.
received = queue.Queue()


class Endpoint(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        received.put((self.headers["x-amz-sns-message-type"], json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


httpd = http.server.HTTPServer(("127.0.0.1", 0), Endpoint)
threading.Thread(target=httpd.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
res = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=url, Attributes={"FilterPolicy": json.dumps({"kind": ["paid"]})})
want("an http subscription waits for its confirmation", res["SubscriptionArn"], "pending confirmation")
kind, conf = received.get(timeout=30)
want("the endpoint is sent a SubscriptionConfirmation", (kind, conf["Type"], conf["TopicArn"]), ("SubscriptionConfirmation",) * 2 + (topic,))
verify("the confirmation's signature verifies", conf, ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"])
sub_arn = sns.confirm_subscription(TopicArn=topic, Token=conf["Token"], AuthenticateOnUnsubscribe="true")["SubscriptionArn"]
attrs = sns.get_subscription_attributes(SubscriptionArn=sub_arn)["Attributes"]
want("confirmed", (attrs["PendingConfirmation"], attrs["ConfirmationWasAuthenticated"], attrs["Endpoint"]), ("false", "true", url))
hook_id = sns.publish(TopicArn=topic, Message="to the hook", MessageAttributes={"kind": {"DataType": "String", "StringValue": "paid"}})["MessageId"]
kind, note = received.get(timeout=30)
want("the endpoint is notified", (kind, note["MessageId"], note["Message"]), ("Notification", hook_id, "to the hook"))
verify("the endpoint's notification verifies", note, ["Message", "MessageId", "Timestamp", "TopicArn", "Type"])
want_error("a bad delivery policy", "InvalidParameter", sns.set_subscription_attributes, SubscriptionArn=sub_arn,
           AttributeName="DeliveryPolicy", AttributeValue=json.dumps({"healthyRetryPolicy": {"numRetries": 1000}}))
sns.unsubscribe(SubscriptionArn=sub_arn)
httpd.shutdown()

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
