package aws

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestLoadKeyFile(t *testing.T) {
	tests := []struct {
		name, content string
		want          StaticKeys
		wantErr       bool
	}{
		{"keys", "# comment\n\nK1 s1\nK2 s2 a,b\n", StaticKeys{
			"K1": {ID: "K1", Secret: "s1", Accessor: "key:K1", Access: Everything},
			"K2": {ID: "K2", Secret: "s2", Accessor: "key:K2", Access: Queues{"a", "b"}},
		}, false},
		{"missing secret", "K1\n", nil, true},
		{"too many fields", "K1 s a b\n", nil, true},
		{"duplicate", "K1 s\nK1 t\n", nil, true},
		{"empty queue", "K1 s a,,b\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadKeyFile(path)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("keys = %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := LoadKeyFile(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("LoadKeyFile(absent) succeeded, want an error")
	}
}

func TestKeyAccess(t *testing.T) {
	scoped := Key{ID: "K", Access: Queues{"a"}}
	for _, tt := range []struct {
		key                        Key
		resource, name, capability string
		want                       bool
	}{
		{scoped, "queue", "a", "receive", true},
		{scoped, "queue", "b", "read", false},
		{scoped, "topic", "a", "publish", false},
		{Key{ID: "K", Access: Everything}, "function", "f", "invoke", true},
		{Key{ID: "K"}, "queue", "a", "read", false},
	} {
		if got := tt.key.Allowed(tt.resource, tt.name, tt.capability); got != tt.want {
			t.Errorf("%T.Allowed(%s, %s, %s) = %v, want %v", tt.key.Access, tt.resource, tt.name, tt.capability, got, tt.want)
		}
	}
}
