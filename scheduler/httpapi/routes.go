package httpapi

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/queue"
	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/aws/lambda"
	"github.com/docketd/docket/scheduler/aws/sns"
	"github.com/docketd/docket/scheduler/aws/sqs"
)

// Need is the ACL capability a route requires: Capability on the
// Resource named by the route's path value NameFrom ("" for a resource
// that has no name in the path, e.g. the queue list or the operator's
// routes). A zero Need is a public route.
type Need struct {
	Resource   string // queue, job, topic, function, node, operator, acl
	Capability string // read, write, send, receive, submit, scale, logs
	NameFrom   string // the path value holding the resource's name
	// Agent marks the routes only agents call (registering, heartbeats,
	// a node's allocations, status reports): over TLS they need an
	// agent's or a server's certificate.
	Agent bool
}

// ofAgents is n, for a route only agents call.
func (n Need) ofAgents() Need {
	n.Agent = true
	return n
}

// Public reports whether the route needs no token at all.
func (n Need) Public() bool { return n.Resource == "" }

// route is one entry of the route table: its pattern, the limits it
// reads its request within (limits.go), the capability it will need, and
// its handler.
type route struct {
	pattern string
	limits  limits
	need    Need
	handle  func(a *API, w http.ResponseWriter, r *http.Request)
}

func needs(resource, capability, nameFrom string) Need {
	return Need{Resource: resource, Capability: capability, NameFrom: nameFrom}
}

// routes is the whole native API. Every route names the largest body it
// takes and whether it waits (a long poll, a blocking query with ?index)
// or streams, and the ACL capability it will need, so that authorizing a
// request is one check in one place (serve).
var routes = []route{
	{"GET /v1/health", smallLimits, Need{}, (*API).health},
	{"GET " + scheduler.SigningCertPath, smallLimits, Need{}, (*API).signingCert},

	{"POST /v1/queues", smallLimits, needs("queue", "write", ""), (*API).createQueue},
	{"GET /v1/queues", smallLimits, needs("queue", "read", ""), (*API).listQueues},
	{"GET /v1/queues/{name}", smallLimits, needs("queue", "read", "name"), (*API).getQueue},
	{"PATCH /v1/queues/{name}", smallLimits, needs("queue", "write", "name"), (*API).updateQueue},
	{"DELETE /v1/queues/{name}", smallLimits, needs("queue", "write", "name"), (*API).deleteQueue},
	{"POST /v1/queues/{name}/messages", limits{body: bodySend}, needs("queue", "send", "name"), (*API).sendMessages},
	{"POST /v1/queues/{name}/receive", receiveLimits, needs("queue", "receive", "name"), (*API).receiveMessages},
	{"POST /v1/queues/{name}/delete", smallLimits, needs("queue", "receive", "name"), (*API).deleteMessages},
	{"POST /v1/queues/{name}/visibility", smallLimits, needs("queue", "receive", "name"), (*API).changeVisibility},
	{"POST /v1/queues/{name}/purge", smallLimits, needs("queue", "write", "name"), (*API).purgeQueue},
	{"POST /v1/queues/{name}/redrive", smallLimits, needs("queue", "write", "name"), (*API).redriveQueue},

	{"POST /v1/topics", smallLimits, needs("topic", "write", ""), (*API).createTopic},
	{"GET /v1/topics", smallLimits, needs("topic", "read", ""), (*API).listTopics},
	{"GET /v1/topics/{name}", smallLimits, needs("topic", "read", "name"), (*API).getTopic},
	{"DELETE /v1/topics/{name}", smallLimits, needs("topic", "write", "name"), (*API).deleteTopic},
	{"POST /v1/topics/{name}/publish", limits{body: bodyPublish}, needs("topic", "publish", "name"), (*API).publish},
	{"POST /v1/topics/{name}/publish-batch", limits{body: bodyPublish}, needs("topic", "publish", "name"), (*API).publishBatch},
	{"POST /v1/topics/{name}/subscriptions", smallLimits, needs("topic", "subscribe", "name"), (*API).subscribe},
	{"GET /v1/topics/{name}/subscriptions", smallLimits, needs("topic", "read", "name"), (*API).listSubscriptions},
	// The token a SubscriptionConfirmation carries is the credential.
	{"POST /v1/topics/{name}/confirm", smallLimits, Need{}, (*API).confirmSubscription},
	{"DELETE /v1/subscriptions/{id}", smallLimits, needs("topic", "subscribe", ""), (*API).unsubscribe},

	{"POST /v1/jobs", limits{body: bodyJob}, needs("job", "submit", ""), (*API).registerJobs},
	{"GET /v1/jobs", blockingQuery, needs("job", "read", ""), (*API).listJobs},
	{"GET /v1/jobs/{name}", blockingQuery, needs("job", "read", "name"), (*API).getJob},
	{"DELETE /v1/jobs/{name}", smallLimits, needs("job", "submit", "name"), (*API).stopJob},
	{"POST /v1/jobs/{name}/scale", smallLimits, needs("job", "scale", "name"), (*API).scaleJob},

	{"POST /v1/nodes", smallLimits, needs("node", "write", "").ofAgents(), (*API).registerNode},
	{"GET /v1/nodes", blockingQuery, needs("node", "read", ""), (*API).listNodes},
	{"GET /v1/nodes/{id}", smallLimits, needs("node", "read", "id"), (*API).getNode},
	{"PUT /v1/nodes/{id}/heartbeat", limits{body: bodyHeartbeat}, needs("node", "write", "id").ofAgents(), (*API).heartbeatNode},
	{"POST /v1/nodes/{id}/drain", smallLimits, needs("node", "write", "id"), (*API).drainNode},
	{"POST /v1/nodes/{id}/eligibility", smallLimits, needs("node", "write", "id"), (*API).setNodeEligibility},
	{"GET /v1/nodes/{id}/allocations", blockingQuery, needs("node", "read", "id").ofAgents(), (*API).nodeAllocations},
	{"GET /v1/nodes/{id}/log-requests", logPollLimits, needs("node", "write", "id").ofAgents(), (*API).logRequests},
	{"POST /v1/nodes/{id}/log-requests/{request}", logUpload, needs("node", "write", "id").ofAgents(), (*API).answerLogRequest},

	{"POST /v1/functions/{name}/invoke", invokeLimits, needs("function", "invoke", "name"), (*API).invokeFunction},
	{"GET /v1/functions", smallLimits, needs("function", "read", ""), (*API).listFunctions},
	{"GET /v1/functions/{name}", smallLimits, needs("function", "read", "name"), (*API).getFunction},
	{"POST /v1/allocations/{id}/invocations/next", pollLimits, needs("node", "write", "").ofAgents(), (*API).nextInvocation},

	{"GET /v1/allocations", blockingQuery, needs("job", "read", ""), (*API).listAllocs},
	{"GET /v1/allocations/{id}", smallLimits, needs("job", "read", ""), (*API).getAlloc},
	{"PUT /v1/allocations/{id}/status", smallLimits, needs("node", "write", "").ofAgents(), (*API).updateAllocStatus},
	{"GET /v1/allocations/{id}/logs", streaming, needs("job", "logs", ""), (*API).allocLogs},

	{"POST /v1/acl/bootstrap", smallLimits, Need{}, (*API).bootstrapACL},
	{"GET /v1/acl/policies", smallLimits, needs("acl", "read", ""), (*API).listPolicies},
	{"GET /v1/acl/policies/{name}", smallLimits, needs("acl", "read", ""), (*API).getPolicy},
	{"PUT /v1/acl/policies/{name}", limits{body: bodyPolicy}, needs("acl", "write", ""), (*API).applyPolicy},
	{"DELETE /v1/acl/policies/{name}", smallLimits, needs("acl", "write", ""), (*API).deletePolicy},
	{"POST /v1/acl/tokens", smallLimits, needs("acl", "write", ""), (*API).createToken},
	{"GET /v1/acl/tokens", smallLimits, needs("acl", "read", ""), (*API).listTokens},
	{"GET /v1/acl/tokens/{accessor}", smallLimits, needs("acl", "read", ""), (*API).getToken},
	{"DELETE /v1/acl/tokens/{accessor}", smallLimits, needs("acl", "write", ""), (*API).deleteToken},

	{"GET /v1/events", streaming, needs("operator", "read", ""), (*API).events},
	{"GET /metrics", smallLimits, needs("operator", "read", ""), (*API).serveMetrics},
}

// API is the native HTTP API of a [scheduler.Server], with the
// SQS-compatible endpoint on the same address: it decodes requests,
// applies their limits, calls the control layer and maps its errors onto
// statuses. It decides nothing itself.
type API struct {
	// limiters are the connection limiters of the HTTP servers made by
	// HTTPServer, which shutdown asks to close silent connections.
	limitersMu sync.Mutex
	limiters   []*connLimiter

	srv     *scheduler.Server
	logger  *slog.Logger
	metrics *httpMetrics
	acl     *aclMetrics
	tls     *tlsMetrics
	gate    *bodyGate
	logs    *logRelay
	// logPickup is how long a request for logs waits for the agent's
	// answer; defaultLogPickup but in tests.
	logPickup time.Duration
	prom      http.Handler
	handler   http.Handler
}

// New returns the HTTP API of srv; its instruments go to srv's registry.
func New(srv *scheduler.Server) *API {
	cfg := srv.Config()
	a := &API{srv: srv, logger: cfg.Logger.With("component", "server")}
	a.metrics = newHTTPMetrics(cfg.Registry)
	a.acl = newACLMetrics(cfg.Registry)
	a.tls = newTLSMetrics(cfg.Registry)
	a.gate = newBodyGate(a.metrics)
	a.logs, a.logPickup = newLogRelay(), defaultLogPickup
	a.prom = promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{Registry: cfg.Registry})
	a.handler = a.build()
	return a
}

// Handler returns the whole HTTP API. Serve it with the timeouts of
// [API.HTTPServer].
func (a *API) Handler() http.Handler { return a.handler }

// Routes lists every route's pattern with the capability it needs.
func Routes() map[string]Need {
	out := make(map[string]Need, len(routes))
	for _, rt := range routes {
		out[rt.pattern] = rt.need
	}
	return out
}

func (a *API) build() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.pattern, a.serve(rt))
	}
	// The SQS-compatible endpoint shares the address: AWS SDKs POST to "/"
	// with X-Amz-Target: AmazonSQS.<Action> (JSON protocol), older clients
	// POST forms with Action=... to "/" or a queue URL (query protocol).
	// Its limits are admitted before the form is read to find its Action;
	// ReceiveMessage waits up to 20s.
	cfg := a.srv.Config()
	sqsHandler := sqs.New(sqs.Config{
		Engine: a.srv.Queues(), Keys: a.srv.AWSKeys(), AllowUnsigned: cfg.SQSAllowUnsigned,
		Region: cfg.SQSRegion, AccountID: cfg.SQSAccountID, Logger: cfg.Logger,
		Registerer: cfg.Registry,
	})
	// SNS shares it too: its query protocol's forms are told from SQS's
	// by their Action.
	snsHandler := sns.New(sns.Config{
		Server: a.srv, Keys: a.srv.AWSKeys(), AllowUnsigned: cfg.SQSAllowUnsigned,
		Region: cfg.SQSRegion, AccountID: cfg.SQSAccountID, Logger: cfg.Logger, Registerer: cfg.Registry,
	})
	// Lambda's API has paths of its own (/2015-03-31/functions/...).
	lambdaHandler := lambda.New(lambda.Config{
		Server: a.srv, Keys: a.srv.AWSKeys(), AllowUnsigned: cfg.SQSAllowUnsigned, Logger: cfg.Logger, Registerer: cfg.Registry,
	})
	sqsLimits := limits{body: sqs.MaxRequestBody, hold: queue.MaxReceiveWait}
	native := jsonNotFound(mux)
	return a.metrics.instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkTarget(r); err != nil {
			a.metrics.refuse(errdefs.Code(err, "invalid_path"))
			a.writeError(w, r, err)
			return
		}
		if lambda.IsLambdaRequest(r) {
			release, err := a.gate.admit(w, r, invokeLimits)
			if err != nil {
				a.writeError(w, r, err)
				return
			}
			defer release()
			lambdaHandler.ServeHTTP(w, r)
			return
		}
		if sns.IsSubscriberLink(r) {
			// A SubscribeURL or UnsubscribeURL an endpoint follows.
			release, err := a.gate.admit(w, r, smallLimits)
			if err != nil {
				a.writeError(w, r, err)
				return
			}
			defer release()
			snsHandler.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodPost || !sqs.MaybeSQSRequest(r) {
			native.ServeHTTP(w, r)
			return
		}
		release, err := a.gate.admit(w, r, sqsLimits)
		if err != nil {
			sqsHandler.Refuse(w, r, err)
			return
		}
		if sns.IsSNSRequest(r) {
			defer release()
			snsHandler.ServeHTTP(w, r)
			return
		}
		if !sqs.IsSQSRequest(r) { // a form whose Action is neither SQS's nor SNS's
			release()
			native.ServeHTTP(w, r)
			return
		}
		defer release()
		sqsHandler.ServeHTTP(w, r)
	}))
}

// serve serves a route within its limits and its ACL check: a request
// without a token (or an unknown one) is refused with 401 and one whose
// token lacks the route's capability with 403, before its body is read;
// a request the gate refuses is answered with the error, and a streaming
// route's writes get their own deadlines.
func (a *API) serve(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.need.Agent {
			if err := checkAgentCert(r); err != nil {
				a.acl.denied.Inc()
				a.writeError(w, r, err)
				return
			}
		}
		if !rt.need.Public() {
			id, err := a.authorize(r, rt.need)
			if err != nil {
				a.writeError(w, r, err)
				return
			}
			r = withIdentity(r, id)
		}
		release, err := a.gate.admit(w, r, rt.limits)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		defer release()
		if rt.limits.stream {
			w = newStreamWriter(w)
		}
		rt.handle(a, w, r)
	})
}

func (a *API) serveMetrics(w http.ResponseWriter, r *http.Request) { a.prom.ServeHTTP(w, r) }
