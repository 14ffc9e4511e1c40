package scheduler

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/docketd/docket/scheduler/sqs"
)

// Handler returns the server's whole HTTP API. Every route is here.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", s.health)

	mux.HandleFunc("POST /v1/queues", s.createQueue)
	mux.HandleFunc("GET /v1/queues", s.listQueues)
	mux.HandleFunc("GET /v1/queues/{name}", s.getQueue)
	mux.HandleFunc("PATCH /v1/queues/{name}", s.updateQueue)
	mux.HandleFunc("DELETE /v1/queues/{name}", s.deleteQueue)
	mux.HandleFunc("POST /v1/queues/{name}/messages", s.sendMessages)
	mux.HandleFunc("POST /v1/queues/{name}/receive", s.receiveMessages)
	mux.HandleFunc("POST /v1/queues/{name}/delete", s.deleteMessages)
	mux.HandleFunc("POST /v1/queues/{name}/visibility", s.changeVisibility)
	mux.HandleFunc("POST /v1/queues/{name}/purge", s.purgeQueue)
	mux.HandleFunc("POST /v1/queues/{name}/redrive", s.redriveQueue)

	mux.HandleFunc("POST /v1/jobs", s.registerJobs)
	mux.HandleFunc("GET /v1/jobs", s.listJobs)
	mux.HandleFunc("GET /v1/jobs/{name}", s.getJob)
	mux.HandleFunc("DELETE /v1/jobs/{name}", s.stopJob)
	mux.HandleFunc("POST /v1/jobs/{name}/scale", s.scaleJob)

	mux.HandleFunc("POST /v1/nodes", s.registerNode)
	mux.HandleFunc("GET /v1/nodes", s.listNodes)
	mux.HandleFunc("GET /v1/nodes/{id}", s.getNode)
	mux.HandleFunc("PUT /v1/nodes/{id}/heartbeat", s.heartbeatNode)
	mux.HandleFunc("POST /v1/nodes/{id}/drain", s.drainNode)
	mux.HandleFunc("POST /v1/nodes/{id}/eligibility", s.setNodeEligibility)
	mux.HandleFunc("GET /v1/nodes/{id}/allocations", s.nodeAllocations)

	mux.HandleFunc("GET /v1/allocations", s.listAllocs)
	mux.HandleFunc("GET /v1/allocations/{id}", s.getAlloc)
	mux.HandleFunc("PUT /v1/allocations/{id}/status", s.updateAllocStatus)
	mux.HandleFunc("GET /v1/allocations/{id}/logs", s.allocLogs)

	mux.HandleFunc("GET /v1/events", s.events)

	mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{
		Registry: s.cfg.Registry,
	}))
	// The SQS-compatible endpoint shares the address: AWS SDKs POST to "/"
	// with X-Amz-Target: AmazonSQS.<Action> (JSON protocol), older clients
	// POST forms with Action=... to "/" or a queue URL (query protocol).
	sqsHandler := sqs.New(sqs.Config{
		Engine: s.queues, Keys: &keyStore{s: s, static: s.cfg.SQSKeys}, AllowUnsigned: s.cfg.SQSAllowUnsigned,
		Region: s.cfg.SQSRegion, AccountID: s.cfg.SQSAccountID, Logger: s.cfg.Logger,
		Registerer: s.cfg.Registry,
	})
	native := jsonNotFound(mux)
	return s.metrics.instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && sqs.IsSQSRequest(r) {
			sqsHandler.ServeHTTP(w, r)
			return
		}
		native.ServeHTTP(w, r)
	}))
}
