package lambdaevent

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// The SNS event decodes as aws-lambda-go's events.SNSEvent, with every
// field of the notification under Lambda's names.
func TestSNSEventIsLambdas(t *testing.T) {
	envelope := `{"Type":"Notification","MessageId":"m-1","TopicArn":"arn:aws:sns:us-east-1:000000000000:orders","Subject":"hi",` +
		`"Message":"paid <&>","Timestamp":"2026-12-08T01:02:03.456Z","SignatureVersion":"1","Signature":"c2ln",` +
		`"SigningCertURL":"http://127.0.0.1:3625/cert.pem","UnsubscribeURL":"http://127.0.0.1:3625/?Action=Unsubscribe",` +
		`"MessageAttributes":{"kind":{"Type":"String","Value":"paid"}}}`
	b, err := SNSEvent("arn:aws:sns:us-east-1:000000000000:orders:sub-1", []byte(envelope))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SNSEvent
	if err := json.Unmarshal(b, &ev); err != nil || len(ev.Records) != 1 {
		t.Fatalf("decode %s: %v", b, err)
	}
	r := ev.Records[0]
	if r.EventSource != "aws:sns" || r.EventVersion != "1.0" || r.EventSubscriptionArn != "arn:aws:sns:us-east-1:000000000000:orders:sub-1" {
		t.Errorf("record %+v", r)
	}
	n := r.SNS
	if n.MessageID != "m-1" || n.Message != "paid <&>" || n.Subject != "hi" || n.Type != "Notification" || n.Signature != "c2ln" ||
		n.SigningCertURL != "http://127.0.0.1:3625/cert.pem" || n.UnsubscribeURL != "http://127.0.0.1:3625/?Action=Unsubscribe" ||
		!n.Timestamp.Equal(time.Date(2026, 12, 8, 1, 2, 3, 456e6, time.UTC)) || n.TopicArn != "arn:aws:sns:us-east-1:000000000000:orders" {
		t.Errorf("notification %+v", n)
	}
	if a, ok := n.MessageAttributes["kind"].(map[string]any); !ok || a["Type"] != "String" || a["Value"] != "paid" {
		t.Errorf("attributes %+v", n.MessageAttributes)
	}
	if _, err := SNSEvent("arn", []byte(`{"Message":"no id"}`)); err == nil {
		t.Error("a notification without MessageId: no error")
	}
	if _, err := SNSEvent("arn", []byte(`not json`)); err == nil {
		t.Error("a notification that is not JSON: no error")
	}
}
