package aws

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"
)

// Key is an access key: the pair an SDK signs requests with, and what
// its holder may do.
type Key struct {
	ID     string
	Secret string
	// Accessor names the key's holder in logs (never its secret): an ACL
	// token's accessor, a worker's allocation, or the key's own id.
	Accessor string
	// Access is what the key may do; nil may do nothing.
	Access Access
}

// Access decides what a key may do: whether it has capability on the
// resource of type resource ("queue", "topic", "function") called name.
// The capabilities are the ACL's: read, write, send and receive on
// queues; read, write, publish and subscribe on topics; read, write and
// invoke on functions. An ACL token's policies (acl.ACL) are one.
type Access interface {
	Allowed(resource, name, capability string) bool
}

// Allowed reports whether the key has capability on the resource.
func (k Key) Allowed(resource, name, capability string) bool {
	return k.Access != nil && k.Access.Allowed(resource, name, capability)
}

// Everything is the access of a key that may do anything: an operator's
// key without a scope, or unsigned requests where the operator lets them
// in.
var Everything Access = everything{}

type everything struct{}

func (everything) Allowed(string, string, string) bool { return true }

// Queues is the access of a key limited to some queues: everything on
// them, nothing else (no other queue, no topic, no function). A key
// limited to some queues cannot create or list others.
type Queues []string

// Allowed reports whether name is one of the queues.
func (q Queues) Allowed(resource, name, _ string) bool {
	return resource == "queue" && slices.Contains(q, name)
}

// KeyStore finds access keys by id. The server may keep them anywhere;
// [StaticKeys] keeps them in memory.
type KeyStore interface {
	Lookup(id string) (Key, bool)
}

// StaticKeys is a fixed set of keys by id.
type StaticKeys map[string]Key

var _ KeyStore = StaticKeys(nil)

// Lookup returns the key with the id.
func (s StaticKeys) Lookup(id string) (Key, bool) {
	k, ok := s[id]
	return k, ok
}

// LoadKeyFile reads access keys from a file of lines
//
//	key_id secret [queue,queue...]
//
// Blank lines and lines starting with # are skipped. A key with a queue
// list may use those queues ([Queues]) and nothing else; a key without one
// may do anything on every AWS-compatible endpoint ([Everything]).
func LoadKeyFile(path string) (StaticKeys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	keys := StaticKeys{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || len(fields) > 3 {
			return nil, fmt.Errorf("%s:%d: want \"key_id secret [queue,queue...]\", got %d fields", path, n, len(fields))
		}
		k := Key{ID: fields[0], Secret: fields[1], Accessor: "key:" + fields[0], Access: Everything}
		if len(fields) == 3 {
			var qs Queues
			for q := range strings.SplitSeq(fields[2], ",") {
				if q == "" {
					return nil, fmt.Errorf("%s:%d: empty queue name in %q", path, n, fields[2])
				}
				qs = append(qs, q)
			}
			k.Access = qs
		}
		if _, dup := keys[k.ID]; dup {
			return nil, fmt.Errorf("%s:%d: key %q given twice", path, n, k.ID)
		}
		keys[k.ID] = k
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, nil
}
