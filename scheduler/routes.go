package scheduler

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
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

	mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{
		Registry: s.cfg.Registry,
	}))
	return s.metrics.instrument(jsonNotFound(mux))
}
