package scheduler

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/queue"
	"github.com/docketd/docket/scheduler/sqs"
)

// Handler returns the server's whole HTTP API. Every route is here, with
// the limits it reads its request within (httplimits.go): the largest
// body it takes, and whether it waits (a long poll, a blocking query with
// ?index) or streams. Serve it with the timeouts of [Server.HTTPServer].
func (s *Server) Handler() http.Handler {
	gate := newBodyGate(s.metrics.http)
	mux := http.NewServeMux()
	handle := func(pattern string, l limits, h http.HandlerFunc) {
		mux.Handle(pattern, s.limit(gate, l, h))
	}
	handle("GET /v1/health", smallLimits, s.health)

	handle("POST /v1/queues", smallLimits, s.createQueue)
	handle("GET /v1/queues", smallLimits, s.listQueues)
	handle("GET /v1/queues/{name}", smallLimits, s.getQueue)
	handle("PATCH /v1/queues/{name}", smallLimits, s.updateQueue)
	handle("DELETE /v1/queues/{name}", smallLimits, s.deleteQueue)
	handle("POST /v1/queues/{name}/messages", limits{body: bodySend}, s.sendMessages)
	handle("POST /v1/queues/{name}/receive", receiveLimits, s.receiveMessages)
	handle("POST /v1/queues/{name}/delete", smallLimits, s.deleteMessages)
	handle("POST /v1/queues/{name}/visibility", smallLimits, s.changeVisibility)
	handle("POST /v1/queues/{name}/purge", smallLimits, s.purgeQueue)
	handle("POST /v1/queues/{name}/redrive", smallLimits, s.redriveQueue)

	handle("POST /v1/jobs", limits{body: bodyJob}, s.registerJobs)
	handle("GET /v1/jobs", blockingQuery, s.listJobs)
	handle("GET /v1/jobs/{name}", blockingQuery, s.getJob)
	handle("DELETE /v1/jobs/{name}", smallLimits, s.stopJob)
	handle("POST /v1/jobs/{name}/scale", smallLimits, s.scaleJob)

	handle("POST /v1/nodes", smallLimits, s.registerNode)
	handle("GET /v1/nodes", blockingQuery, s.listNodes)
	handle("GET /v1/nodes/{id}", smallLimits, s.getNode)
	handle("PUT /v1/nodes/{id}/heartbeat", limits{body: bodyHeartbeat}, s.heartbeatNode)
	handle("POST /v1/nodes/{id}/drain", smallLimits, s.drainNode)
	handle("POST /v1/nodes/{id}/eligibility", smallLimits, s.setNodeEligibility)
	handle("GET /v1/nodes/{id}/allocations", blockingQuery, s.nodeAllocations)

	handle("GET /v1/allocations", blockingQuery, s.listAllocs)
	handle("GET /v1/allocations/{id}", smallLimits, s.getAlloc)
	handle("PUT /v1/allocations/{id}/status", smallLimits, s.updateAllocStatus)
	handle("GET /v1/allocations/{id}/logs", streaming, s.allocLogs)

	handle("GET /v1/events", streaming, s.events)

	mux.Handle("GET /metrics", s.limit(gate, smallLimits, promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{
		Registry: s.cfg.Registry,
	})))
	// The SQS-compatible endpoint shares the address: AWS SDKs POST to "/"
	// with X-Amz-Target: AmazonSQS.<Action> (JSON protocol), older clients
	// POST forms with Action=... to "/" or a queue URL (query protocol).
	// Its limits are admitted before the form is read to find its Action;
	// ReceiveMessage waits up to 20s.
	sqsHandler := sqs.New(sqs.Config{
		Engine: s.queues, Keys: &keyStore{s: s, static: s.cfg.SQSKeys}, AllowUnsigned: s.cfg.SQSAllowUnsigned,
		Region: s.cfg.SQSRegion, AccountID: s.cfg.SQSAccountID, Logger: s.cfg.Logger,
		Registerer: s.cfg.Registry,
	})
	sqsLimits := limits{body: sqs.MaxRequestBody, hold: queue.MaxReceiveWait}
	native := jsonNotFound(mux)
	return s.metrics.instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkTarget(r); err != nil {
			s.metrics.http.refuse(errdefs.Code(err, "invalid_path"))
			s.writeError(w, r, err)
			return
		}
		if r.Method != http.MethodPost || !sqs.MaybeSQSRequest(r) {
			native.ServeHTTP(w, r)
			return
		}
		release, err := gate.admit(w, r, sqsLimits)
		if err != nil {
			sqsHandler.Refuse(w, r, err)
			return
		}
		if !sqs.IsSQSRequest(r) { // a form whose Action is not SQS's
			release()
			native.ServeHTTP(w, r)
			return
		}
		defer release()
		sqsHandler.ServeHTTP(w, r)
	}))
}

// limit serves h within the route limits l: a request the gate refuses
// is answered with the error, and a streaming route's writes get their
// own deadlines.
func (s *Server) limit(gate *bodyGate, l limits, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release, err := gate.admit(w, r, l)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		defer release()
		if l.stream {
			w = newStreamWriter(w)
		}
		h.ServeHTTP(w, r)
	})
}
