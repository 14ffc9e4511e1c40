package aws

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"
)

// Key is an access key: the pair an SDK signs requests with, and the
// queues it may use.
type Key struct {
	ID     string
	Secret string
	// Queues are the names of the queues the key may use; empty means all.
	// A key limited to some queues cannot create or list others.
	Queues []string
}

// Allows reports whether the key may use the queue called name.
func (k Key) Allows(name string) bool {
	return len(k.Queues) == 0 || slices.Contains(k.Queues, name)
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
// Blank lines and lines starting with # are skipped. A key without a queue
// list may use every queue.
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
		k := Key{ID: fields[0], Secret: fields[1]}
		if len(fields) == 3 {
			for q := range strings.SplitSeq(fields[2], ",") {
				if q == "" {
					return nil, fmt.Errorf("%s:%d: empty queue name in %q", path, n, fields[2])
				}
				k.Queues = append(k.Queues, q)
			}
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
