package scheduler

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/docketd/docket/scheduler/aws"
	"github.com/docketd/docket/scheduler/state"
)

// allocKeyPrefix marks the access keys the server mints for queue
// workers' allocations.
const allocKeyPrefix = "AKIDALLOC"

// awsCacheKey is where the auth cache keeps the token of an AWS access
// key id; secrets never start with a NUL byte.
func awsCacheKey(id string) string { return "\x00aws:" + id }

// allocKey is the SQS access key of a queue worker's allocation: its id
// names the allocation, and its secret is derived from the server's
// secret and the allocation's id, so nothing is stored. It is the worker
// token's twin (queueToken): the same identity, scoped to the job's queue
// (read, send, receive), and it stops working when the allocation ends.
func (s *Server) allocKey(allocID string) aws.Key {
	return aws.Key{
		ID:     allocKeyPrefix + strings.ToUpper(strings.ReplaceAll(allocID, "-", "")),
		Secret: s.allocKeySecret(allocID),
	}
}

func (s *Server) allocKeySecret(allocID string) string {
	h := hmac.New(sha256.New, s.secret)
	h.Write([]byte("sqs-key-secret\x00" + allocID))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:30])
}

// allocOfKey returns the allocation id an allocation's key id names.
func allocOfKey(id string) (string, bool) {
	h, ok := strings.CutPrefix(id, allocKeyPrefix)
	if !ok || len(h) != 32 {
		return "", false
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", false
	}
	h = strings.ToLower(h)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], true
}

// keyStore is what the AWS-compatible endpoints verify signatures with,
// and what a key may do: the operator's keys (Config.SQSKeys, with the
// scope their file gives), the AWS keys of ACL tokens (authorized by the
// token's policies, and refused once it is revoked or expired), and the
// keys of queue workers' allocations (their job's queue, while the
// allocation lives).
type keyStore struct {
	s      *Server
	static aws.KeyStore
}

var _ aws.KeyStore = (*keyStore)(nil)

func (k *keyStore) Lookup(id string) (aws.Key, bool) {
	if k.static != nil {
		if key, ok := k.static.Lookup(id); ok {
			return key, true
		}
	}
	if allocID, ok := allocOfKey(id); ok {
		who, err := k.s.workerIdentity(allocID)
		if err != nil {
			return aws.Key{}, false
		}
		return aws.Key{ID: id, Secret: k.s.allocKeySecret(allocID), Accessor: who.Accessor, Access: who.ACL}, true
	}
	rt, err := k.s.resolve(awsCacheKey(id), func(rd *state.Reader) *state.ACLToken { return rd.ACLTokenByAWSKey(id) })
	if err != nil || rt.awsSecret == "" {
		return aws.Key{}, false
	}
	return aws.Key{ID: id, Secret: rt.awsSecret, Accessor: rt.id.Accessor, Access: rt.id.ACL}, true
}
