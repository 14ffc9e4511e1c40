package lambdaevent

import (
	"encoding/json"
	"errors"
)

// SNSEvent is Lambda's SNS event of one notification: envelope is the
// notification as SNS delivers it to HTTP endpoints (its JSON envelope),
// subscriptionARN the subscription delivering it. Lambda's event names
// two of the envelope's fields differently (SigningCertUrl,
// UnsubscribeUrl), and gives message attributes as Type and Value.
func SNSEvent(subscriptionARN string, envelope []byte) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(envelope, &fields); err != nil {
		return nil, err
	}
	if _, ok := fields["MessageId"]; !ok {
		return nil, errors.New("lambdaevent: the notification has no MessageId")
	}
	for from, to := range map[string]string{"SigningCertURL": "SigningCertUrl", "UnsubscribeURL": "UnsubscribeUrl"} {
		if v, ok := fields[from]; ok {
			delete(fields, from)
			fields[to] = v
		}
	}
	if _, ok := fields["MessageAttributes"]; !ok {
		fields["MessageAttributes"] = json.RawMessage("{}")
	}
	if _, ok := fields["Subject"]; !ok {
		fields["Subject"] = json.RawMessage("null")
	}
	type record struct {
		EventVersion         string                     `json:"EventVersion"`
		EventSubscriptionArn string                     `json:"EventSubscriptionArn"`
		EventSource          string                     `json:"EventSource"`
		Sns                  map[string]json.RawMessage `json:"Sns"`
	}
	return json.Marshal(struct {
		Records []record `json:"Records"`
	}{[]record{{EventVersion: "1.0", EventSubscriptionArn: subscriptionARN, EventSource: "aws:sns", Sns: fields}}})
}
