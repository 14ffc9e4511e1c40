package sqs

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/docketd/docket/internal/queue"
	awsproto "github.com/docketd/docket/scheduler/aws"
)

// query sends a query-protocol request, signed with the test key by the
// SDK's own SigV4 signer, as AWS CLI v1 sends them, and returns the status
// and body of the answer.
func (h *harness) query(t testing.TB, path string, params url.Values) (int, []byte) {
	t.Helper()
	return h.queryRaw(t, path, params.Encode(), testSecret)
}

func (h *harness) queryRaw(t testing.TB, path, body, secret string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodPost, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(ctx(t), creds, req, sha256Hex([]byte(body)), "sqs", "eu-west-3", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/xml" {
		t.Errorf("Content-Type = %q, want text/xml", ct)
	}
	return resp.StatusCode, b
}

// unmarshalXML decodes an answer, failing the test when it is not XML in
// the query protocol's namespace.
func unmarshalXML(t testing.TB, b []byte, v any) {
	t.Helper()
	var root struct{ XMLName xml.Name }
	if err := xml.Unmarshal(b, &root); err != nil {
		t.Fatalf("answer is not XML: %v\n%s", err, b)
	}
	if root.XMLName.Space != queryNamespace {
		t.Errorf("namespace = %q, want %q", root.XMLName.Space, queryNamespace)
	}
	if err := xml.Unmarshal(b, v); err != nil {
		t.Fatalf("decode answer: %v\n%s", err, b)
	}
}

type xmlError struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

type xmlNameValue struct {
	Name  string
	Value string
}

type xmlMessage struct {
	MessageId              string
	ReceiptHandle          string
	MD5OfBody              string
	Body                   string
	MD5OfMessageAttributes string
	Attributes             []xmlNameValue `xml:"Attribute"`
	MessageAttributes      []struct {
		Name  string
		Value struct {
			DataType    string
			StringValue string
			BinaryValue string
		}
	} `xml:"MessageAttribute"`
}

func TestQueryProtocol(t *testing.T) {
	h := newHarness(t, Config{})

	status, b := h.query(t, "/", url.Values{
		"Action": {"CreateQueue"}, "Version": {"2012-11-05"}, "QueueName": {"jobs"},
		"Attribute.1.Name": {"VisibilityTimeout"}, "Attribute.1.Value": {"40"},
		"Attribute.2.Name": {"DelaySeconds"}, "Attribute.2.Value": {"0"},
	})
	var created struct {
		XMLName   xml.Name `xml:"CreateQueueResponse"`
		QueueURL  string   `xml:"CreateQueueResult>QueueUrl"`
		RequestID string   `xml:"ResponseMetadata>RequestId"`
	}
	unmarshalXML(t, b, &created)
	qurl := h.srv.URL + "/000000000000/jobs"
	if status != 200 || created.QueueURL != qurl || created.RequestID == "" {
		t.Fatalf("CreateQueue: status %d, %+v; want 200, QueueUrl %s and a request id", status, created, qurl)
	}
	if info, err := h.engine.Queue("jobs"); err != nil || info.Attributes.VisibilityTimeout != 40*time.Second {
		t.Errorf("engine queue = %+v, %v; want VisibilityTimeout 40s", info.Attributes, err)
	}

	// Posted to the queue's URL, without QueueUrl, as boto does.
	body := "<b> & \"q\"\r\n\tend"
	status, b = h.query(t, "/000000000000/jobs", url.Values{
		"Action": {"SendMessage"}, "Version": {"2012-11-05"}, "MessageBody": {body},
		"MessageAttribute.1.Name": {"color"}, "MessageAttribute.1.Value.DataType": {"String"},
		"MessageAttribute.1.Value.StringValue": {"blue"},
		"MessageAttribute.2.Name":              {"raw"}, "MessageAttribute.2.Value.DataType": {"Binary"},
		"MessageAttribute.2.Value.BinaryValue": {base64.StdEncoding.EncodeToString([]byte{0, 1, 2})},
	})
	var sent struct {
		MessageID     string `xml:"SendMessageResult>MessageId"`
		MD5OfBody     string `xml:"SendMessageResult>MD5OfMessageBody"`
		MD5OfMsgAttrs string `xml:"SendMessageResult>MD5OfMessageAttributes"`
	}
	unmarshalXML(t, b, &sent)
	wantAttrMD5 := md5OfAttributes([]queue.Attr{{Name: "color", Type: "String", Value: []byte("blue")}, {Name: "raw", Type: "Binary", Value: []byte{0, 1, 2}}})
	if status != 200 || sent.MessageID == "" || sent.MD5OfBody != md5Hex([]byte(body)) || sent.MD5OfMsgAttrs != wantAttrMD5 {
		t.Fatalf("SendMessage: status %d, %+v; want 200, MD5s %s and %s\n%s", status, sent, md5Hex([]byte(body)), wantAttrMD5, b)
	}

	status, b = h.query(t, "/", url.Values{
		"Action": {"SendMessageBatch"}, "QueueUrl": {qurl},
		"SendMessageBatchRequestEntry.1.Id": {"a"}, "SendMessageBatchRequestEntry.1.MessageBody": {"one"},
		"SendMessageBatchRequestEntry.2.Id": {"b"}, "SendMessageBatchRequestEntry.2.MessageBody": {"two"},
		"SendMessageBatchRequestEntry.2.DelaySeconds": {"0"},
	})
	var batch struct {
		OK     []struct{ Id, MessageId string } `xml:"SendMessageBatchResult>SendMessageBatchResultEntry"`
		Failed []struct{ Id string }            `xml:"SendMessageBatchResult>BatchResultErrorEntry"`
	}
	unmarshalXML(t, b, &batch)
	if status != 200 || len(batch.OK) != 2 || len(batch.Failed) != 0 || batch.OK[0].Id != "a" || batch.OK[1].Id != "b" {
		t.Fatalf("SendMessageBatch: status %d, %+v; want entries a and b sent\n%s", status, batch, b)
	}

	status, b = h.query(t, "/", url.Values{
		"Action": {"ReceiveMessage"}, "QueueUrl": {qurl}, "MaxNumberOfMessages": {"10"},
		"AttributeName.1": {"ApproximateReceiveCount"}, "MessageAttributeName.1": {"All"},
	})
	var received struct {
		Messages []xmlMessage `xml:"ReceiveMessageResult>Message"`
	}
	unmarshalXML(t, b, &received)
	if status != 200 || len(received.Messages) != 3 {
		t.Fatalf("ReceiveMessage: status %d, %d messages, want 200 and 3\n%s", status, len(received.Messages), b)
	}
	var first xmlMessage
	for _, m := range received.Messages {
		if m.MessageId == sent.MessageID {
			first = m
		}
	}
	if first.Body != body || first.MD5OfBody != md5Hex([]byte(body)) || first.MD5OfMessageAttributes != wantAttrMD5 {
		t.Errorf("received %+v, want body %q and MD5s of the send", first, body)
	}
	if len(first.Attributes) != 1 || first.Attributes[0] != (xmlNameValue{"ApproximateReceiveCount", "1"}) {
		t.Errorf("system attributes = %+v, want ApproximateReceiveCount=1", first.Attributes)
	}
	if len(first.MessageAttributes) != 2 || first.MessageAttributes[0].Value.StringValue != "blue" ||
		first.MessageAttributes[1].Value.BinaryValue != "AAEC" || first.MessageAttributes[1].Value.DataType != "Binary" {
		t.Errorf("message attributes = %+v, want color=blue and raw=AAEC", first.MessageAttributes)
	}

	status, b = h.query(t, "/", url.Values{"Action": {"DeleteMessage"}, "QueueUrl": {qurl}, "ReceiptHandle": {first.ReceiptHandle}})
	var deleted struct {
		XMLName   xml.Name `xml:"DeleteMessageResponse"`
		RequestID string   `xml:"ResponseMetadata>RequestId"`
	}
	unmarshalXML(t, b, &deleted)
	if status != 200 || deleted.RequestID == "" {
		t.Fatalf("DeleteMessage: status %d\n%s", status, b)
	}
	params := url.Values{"Action": {"DeleteMessageBatch"}, "QueueUrl": {qurl}}
	for i, m := range received.Messages {
		n := "DeleteMessageBatchRequestEntry." + strconv.Itoa(i+1)
		params.Set(n+".Id", "e"+strconv.Itoa(i))
		params.Set(n+".ReceiptHandle", m.ReceiptHandle)
	}
	params.Set("DeleteMessageBatchRequestEntry.4.Id", "bad")
	params.Set("DeleteMessageBatchRequestEntry.4.ReceiptHandle", "bogus")
	status, b = h.query(t, "/", params)
	var delBatch struct {
		OK     []struct{ Id string } `xml:"DeleteMessageBatchResult>DeleteMessageBatchResultEntry"`
		Failed []struct {
			Id, Code    string
			SenderFault bool
		} `xml:"DeleteMessageBatchResult>BatchResultErrorEntry"`
	}
	unmarshalXML(t, b, &delBatch)
	if status != 200 || len(delBatch.OK) != 3 || len(delBatch.Failed) != 1 || delBatch.Failed[0].Id != "bad" ||
		delBatch.Failed[0].Code != "ReceiptHandleIsInvalid" || !delBatch.Failed[0].SenderFault {
		t.Errorf("DeleteMessageBatch: status %d, %+v; want 3 deleted (one again) and bad ReceiptHandleIsInvalid\n%s", status, delBatch, b)
	}

	status, b = h.query(t, "/000000000000/jobs", url.Values{
		"Action": {"GetQueueAttributes"}, "AttributeName.1": {"ApproximateNumberOfMessages"}, "AttributeName.2": {"VisibilityTimeout"},
	})
	var attrs struct {
		Attributes []xmlNameValue `xml:"GetQueueAttributesResult>Attribute"`
	}
	unmarshalXML(t, b, &attrs)
	want := []xmlNameValue{{"ApproximateNumberOfMessages", "0"}, {"VisibilityTimeout", "40"}}
	if status != 200 || len(attrs.Attributes) != 2 || attrs.Attributes[0] != want[0] || attrs.Attributes[1] != want[1] {
		t.Errorf("GetQueueAttributes: status %d, %+v; want %+v", status, attrs.Attributes, want)
	}
}

func TestQueryProtocolTags(t *testing.T) {
	h := newHarness(t, Config{})
	status, b := h.query(t, "/", url.Values{"Action": {"CreateQueue"}, "QueueName": {"t"},
		"Tag.1.Key": {"team"}, "Tag.1.Value": {"ops"}, "Tag.2.Key": {"env"}, "Tag.2.Value": {"dev"}})
	if status != 200 {
		t.Fatalf("CreateQueue: status %d\n%s", status, b)
	}
	status, b = h.query(t, "/000000000000/t", url.Values{"Action": {"TagQueue"}, "Tag.1.Key": {"env"}, "Tag.1.Value": {"<prod>"}})
	if status != 200 {
		t.Fatalf("TagQueue: status %d\n%s", status, b)
	}
	status, b = h.query(t, "/000000000000/t", url.Values{"Action": {"UntagQueue"}, "TagKey.1": {"team"}})
	if status != 200 {
		t.Fatalf("UntagQueue: status %d\n%s", status, b)
	}
	status, b = h.query(t, "/000000000000/t", url.Values{"Action": {"ListQueueTags"}})
	var listed struct {
		Tags []struct{ Key, Value string } `xml:"ListQueueTagsResult>Tag"`
	}
	unmarshalXML(t, b, &listed)
	if status != 200 || len(listed.Tags) != 1 || listed.Tags[0].Key != "env" || listed.Tags[0].Value != "<prod>" {
		t.Fatalf("ListQueueTags: status %d, %+v; want env=<prod>\n%s", status, listed, b)
	}
	// An empty value is written as <Value></Value>: boto3 gives a tag
	// without one the previous tag's value.
	h.query(t, "/000000000000/t", url.Values{"Action": {"TagQueue"}, "Tag.1.Key": {"blank"}, "Tag.1.Value": {""}})
	_, b = h.query(t, "/000000000000/t", url.Values{"Action": {"ListQueueTags"}})
	if !strings.Contains(string(b), "<Key>blank</Key><Value></Value>") {
		t.Fatalf("ListQueueTags with an empty value:\n%s", b)
	}
}

func TestQueryProtocolErrors(t *testing.T) {
	h := newHarness(t, Config{})
	if _, err := h.engine.CreateQueue("q", queue.DefaultAttributes()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, body, secret string
		status                   int
		fault, code              string
	}{
		{"queue does not exist", "/", "Action=GetQueueUrl&QueueName=nope", testSecret, 400, "Sender", "AWS.SimpleQueueService.NonExistentQueue"},
		{"queue URL does not exist", "/000000000000/nope", "Action=PurgeQueue", testSecret, 400, "Sender", "AWS.SimpleQueueService.NonExistentQueue"},
		{"bad signature", "/", "Action=ListQueues", "wrong", 403, "Sender", "SignatureDoesNotMatch"},
		{"malformed form", "/", "Action=ListQueues&x=%zz", testSecret, 400, "Sender", "MalformedQueryString"},
		{"no action", "/", "QueueName=q", testSecret, 400, "Sender", "MissingParameter"},
		{"unknown action", "/", "Action=Frobnicate", testSecret, 400, "Sender", "InvalidAction"},
		{"not a number", "/000000000000/q", "Action=ReceiveMessage&MaxNumberOfMessages=ten", testSecret, 400, "Sender", "InvalidParameterValue"},
		{"bad base64", "/000000000000/q", "Action=SendMessage&MessageBody=x&MessageAttribute.1.Name=a&MessageAttribute.1.Value.DataType=Binary&MessageAttribute.1.Value.BinaryValue=!!", testSecret, 400, "Sender", "InvalidParameterValue"},
		{"map entry without a name", "/000000000000/q", "Action=SetQueueAttributes&Attribute.1.Value=3", testSecret, 400, "Sender", "MissingParameter"},
		{"too many entries", "/000000000000/q", batchOf(11), testSecret, 400, "Sender", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, b := h.queryRaw(t, tt.path, tt.body, tt.secret)
			var e xmlError
			unmarshalXML(t, b, &e)
			if status != tt.status || e.Type != tt.fault || e.Code != tt.code || e.Message == "" || e.RequestID == "" {
				t.Errorf("got %d %+v, want %d %s %s with a message and a request id", status, e, tt.status, tt.fault, tt.code)
			}
		})
	}
}

// batchOf is a SendMessageBatch form of n entries.
func batchOf(n int) string {
	v := url.Values{"Action": {"SendMessageBatch"}}
	for i := 1; i <= n; i++ {
		p := "SendMessageBatchRequestEntry." + strconv.Itoa(i)
		v.Set(p+".Id", "m"+strconv.Itoa(i))
		v.Set(p+".MessageBody", "x")
	}
	return v.Encode()
}

func TestIsSQSRequestQueryProtocol(t *testing.T) {
	tests := []struct {
		name, method, path, contentType, body string
		want                                  bool
	}{
		{"action in the body", "POST", "/", "application/x-www-form-urlencoded", "Action=SendMessage&QueueUrl=x", true},
		{"to a queue URL, with a charset", "POST", "/000000000000/q", "application/x-www-form-urlencoded; charset=utf-8", "Version=2012-11-05&Action=ReceiveMessage", true},
		{"action in the query string", "POST", "/?Action=ListQueues", "application/x-www-form-urlencoded", "", true},
		{"unknown action", "POST", "/", "application/x-www-form-urlencoded", "Action=Launch", false},
		{"no action", "POST", "/", "application/x-www-form-urlencoded", "a=b", false},
		{"JSON body", "POST", "/", "application/json", `{"Action":"SendMessage"}`, false},
		{"GET", "GET", "/?Action=ListQueues", "application/x-www-form-urlencoded", "", false},
		{"another path", "POST", "/v1/jobs/x/y", "application/x-www-form-urlencoded", "Action=SendMessage", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			r.Header.Set("Content-Type", tt.contentType)
			if got := IsSQSRequest(r); got != tt.want {
				t.Errorf("IsSQSRequest = %v, want %v", got, tt.want)
			}
			// The body is still there for whoever serves the request.
			if b, _ := io.ReadAll(r.Body); string(b) != tt.body {
				t.Errorf("body after IsSQSRequest = %q, want %q", b, tt.body)
			}
		})
	}
}

func TestQueryDecoder(t *testing.T) {
	i64 := func(n int64) *int64 { return &n }
	str := func(s string) *string { return &s }
	tests := []struct {
		name, action, form string
		into, want         any
	}{
		{"change visibility batch, in numeric order", "ChangeMessageVisibilityBatch",
			"QueueUrl=u&ChangeMessageVisibilityBatchRequestEntry.10.Id=c&ChangeMessageVisibilityBatchRequestEntry.10.ReceiptHandle=r10" +
				"&ChangeMessageVisibilityBatchRequestEntry.2.Id=b&ChangeMessageVisibilityBatchRequestEntry.2.VisibilityTimeout=5" +
				"&ChangeMessageVisibilityBatchRequestEntry.1.Id=a&ChangeMessageVisibilityBatchRequestEntry.x.Id=ignored",
			&receiptBatchRequest{}, &receiptBatchRequest{QueueUrl: "u", Entries: []receiptBatchEntry{
				{Id: "a"}, {Id: "b", VisibilityTimeout: i64(5)}, {Id: "c", ReceiptHandle: "r10"},
			}}},
		{"receive lists", "ReceiveMessage",
			"AttributeName.1=All&MessageSystemAttributeName.1=SenderId&MessageAttributeName.2=b&MessageAttributeName.1=a&WaitTimeSeconds=20",
			&receiveMessageRequest{}, &receiveMessageRequest{AttributeNames: []string{"All"}, MessageSystemAttributeNames: []string{"SenderId"},
				MessageAttributeNames: []string{"a", "b"}, WaitTimeSeconds: i64(20)}},
		{"create with attributes and tags", "CreateQueue",
			"QueueName=q&Attribute.1.Name=DelaySeconds&Attribute.1.Value=1&Tag.1.Key=team&Tag.1.Value=ops",
			&createQueueRequest{}, &createQueueRequest{QueueName: "q", Attributes: map[string]string{"DelaySeconds": "1"}, Tags: map[string]string{"team": "ops"}}},
		{"batch send with attributes", "SendMessageBatch",
			"SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=x" +
				"&SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=n&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=Number" +
				"&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=3",
			&sendMessageBatchRequest{}, &sendMessageBatchRequest{Entries: []sendMessageBatchEntry{{Id: "a", MessageBody: str("x"),
				MessageAttributes: map[string]messageAttributeValue{"n": {DataType: "Number", StringValue: str("3")}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals, err := url.ParseQuery(tt.form)
			if err != nil {
				t.Fatal(err)
			}
			if err := awsproto.NewQueryDecoder(vals, tt.action).Decode(tt.into); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(tt.into, tt.want) {
				t.Errorf("got %s, want %s", mustJSON(t, tt.into), mustJSON(t, tt.want))
			}
		})
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRequestMetrics: every answered request is counted once, by action,
// protocol and outcome; names outside the API share one label value.
func TestRequestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, Config{Registerer: reg})
	c := h.defaultClient()
	createQueue(t, c, "m", nil)
	gone := h.srv.URL + "/000000000000/gone"
	if _, err := c.PurgeQueue(ctx(t), &sqs.PurgeQueueInput{QueueUrl: &gone}); err == nil {
		t.Fatal("PurgeQueue of a missing queue succeeded")
	}
	h.query(t, "/000000000000/m", url.Values{"Action": {"ListQueueTags"}})
	h.query(t, "/", url.Values{"Action": {"Frobnicate"}})
	rawPost(t, h.srv.URL, "AmazonSQS.Frobnicate2", `{}`)
	// Labels in name order: action, outcome, protocol.
	want := map[string]float64{
		"CreateQueue ok json":                     1,
		"PurgeQueue QueueDoesNotExist json":       1,
		"ListQueueTags ok query":                  1,
		"unknown InvalidAction query":             1,
		"unknown MissingAuthenticationToken json": 1,
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "docket_sqs_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var l []string
			for _, p := range m.GetLabel() {
				l = append(l, p.GetValue())
			}
			got[strings.Join(l, " ")] = m.GetCounter().GetValue()
		}
	}
	if !maps.Equal(got, want) {
		t.Fatalf("docket_sqs_requests_total = %v, want %v", got, want)
	}
}
