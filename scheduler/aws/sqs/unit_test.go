package sqs

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/docketd/docket/internal/queue"
)

func newTestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// The digests of other implementations, computed independently.
func TestMD5OfAttributes(t *testing.T) {
	tests := []struct {
		name  string
		attrs []queue.Attr
		want  string
	}{
		{"localstack vector", []queue.Attr{{Name: "timestamp", Type: "Number", Value: []byte("1493147359900")}}, "235c5c510d26fb653d073faed50ae77c"},
		{"sqslite vector", []queue.Attr{
			{Name: "ordinal", Type: "Number", Value: []byte("1")},
			{Name: "category", Type: "String", Value: []byte("test")},
		}, "d21ae90c49061e927f57df5f5d72be1f"},
		{"none", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := md5OfAttributes(tt.attrs); got != tt.want {
				t.Errorf("md5OfAttributes = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidText(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"plain", true}, {"tab\tnl\ncr\r", true}, {"ünï ✓ 𝄞", true}, {"\ufffd", true},
		{"nul\x00", false}, {"bell\x07", false}, {"\ufffe", false}, {"\uffff", false}, {"bad \xff utf8", false},
		{"", true}, {"\x7f del", true}, {"ascii then ü then \x01", false}, {"ascii then \xed\xa0\x80 surrogate", false},
		{"\x1f", false}, {"ü then ascii \x00", false}, {"a\xc3", false},
	}
	for _, tt := range tests {
		if got := validText(tt.s); got != tt.want {
			t.Errorf("validText(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestIsSQSRequest(t *testing.T) {
	tests := []struct {
		target string
		want   bool
	}{{"AmazonSQS.SendMessage", true}, {"AmazonSQS.", true}, {"DynamoDB_20120810.GetItem", false}, {"", false}}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header.Set("X-Amz-Target", tt.target)
		if got := IsSQSRequest(r); got != tt.want {
			t.Errorf("IsSQSRequest(%q) = %v, want %v", tt.target, got, tt.want)
		}
	}
}

func TestValidBatchID(t *testing.T) {
	for _, tt := range []struct {
		id   string
		want bool
	}{
		{"a", true}, {"a-b_C9", true}, {strings.Repeat("x", 80), true},
		{"", false}, {strings.Repeat("x", 81), false}, {"a b", false}, {"a.b", false}, {"ü", false}, {"a\x00", false},
	} {
		if got := validBatchID(tt.id); got != tt.want {
			t.Errorf("validBatchID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
	if err := checkBatchIDs([]string{"a", "b", "a"}, "SendMessageBatchRequestEntry"); err == nil || err.Code != "BatchEntryIdsNotDistinct" {
		t.Errorf("repeated ids: %v", err)
	}
}
