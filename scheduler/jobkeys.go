package scheduler

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"sync"

	"github.com/docketd/docket/scheduler/aws"
	"github.com/docketd/docket/scheduler/state"
	"github.com/docketd/docket/specs"
)

// jobKeyPrefix marks access keys the server mints for jobs.
const jobKeyPrefix = "AKIDJOB"

// jobKey is the SQS access key of a job's tasks: derived from the server's
// secret and the job's name, so nothing is stored and every server run
// derives the same one, and scoped to the job's queue, so a worker written
// for SQS reaches its own queue and no other.
func (s *Server) jobKey(job *specs.Job) aws.Key {
	mac := func(purpose string) []byte {
		h := hmac.New(sha256.New, s.secret)
		h.Write([]byte(purpose + "\x00" + job.Name))
		return h.Sum(nil)
	}
	return aws.Key{
		ID:     jobKeyPrefix + strings.ToUpper(hex.EncodeToString(mac("sqs-key-id")[:7])),
		Secret: base64.RawURLEncoding.EncodeToString(mac("sqs-key-secret")[:30]),
		Queues: []string{job.Queue},
	}
}

// keyStore is what the SQS endpoint verifies signatures with: the
// operator's keys, then the keys of the jobs that run on a queue.
type keyStore struct {
	s      *Server
	static aws.KeyStore

	mu    sync.Mutex // guards jobs and index
	jobs  map[string]aws.Key
	index uint64 // the jobs table's index jobs was built at
}

var _ aws.KeyStore = (*keyStore)(nil)

func (k *keyStore) Lookup(id string) (aws.Key, bool) {
	if k.static != nil {
		if key, ok := k.static.Lookup(id); ok {
			return key, true
		}
	}
	if !strings.HasPrefix(id, jobKeyPrefix) {
		return aws.Key{}, false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var idx uint64
	var jobs []*state.Job
	k.s.state.View(func(rd *state.Reader) {
		idx = rd.TableIndex(state.TableJobs)
		if k.jobs == nil || idx != k.index {
			jobs = rd.Jobs()
		}
	})
	if jobs != nil || k.jobs == nil {
		k.jobs = map[string]aws.Key{}
		for _, j := range jobs {
			if !j.Stopped && j.Spec.QueueWorkers() {
				key := k.s.jobKey(j.Spec)
				k.jobs[key.ID] = key
			}
		}
		k.index = idx
	}
	key, ok := k.jobs[id]
	return key, ok
}
