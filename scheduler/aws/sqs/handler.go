package sqs

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/docketd/docket/internal/promreg"
	"github.com/docketd/docket/internal/queue"
	"github.com/docketd/docket/scheduler/aws"
)

// targetPrefix starts the X-Amz-Target header of every SQS request.
const targetPrefix = "AmazonSQS."

// MaxRequestBody bounds a request body, checked against Content-Length
// before anything is read and while reading one without it. A batch's
// messages together are at most the queue's max_message_size (at most 1
// MiB, as in SQS); JSON can spend six bytes on one of their bytes (a
// \u00XX escape) and a form three (%XX), so 6 MiB covers any batch, and
// the rest the entries' ids, attribute names and the queue URL.
const MaxRequestBody = 8 << 20

// Config configures a [Handler]. Zero fields take the defaults noted.
type Config struct {
	// Engine holds the queues. Required.
	Engine *queue.Engine
	// Keys are the access keys requests are signed with. Required unless
	// AllowUnsigned; with neither, every request is refused.
	Keys aws.KeyStore
	// AllowUnsigned lets requests without an Authorization header in, with
	// access to every queue. Only for an explicit operator flag: anyone who
	// reaches the port can then use every queue. Signed requests are still
	// verified when Keys is set.
	AllowUnsigned bool
	// Region names the region in queue ARNs; default "us-east-1".
	// Signatures are accepted for whatever region the client signed with.
	Region string
	// AccountID is the account in queue URLs and ARNs; default
	// "000000000000".
	AccountID string
	// Now is the clock that request dates are checked against; default
	// time.Now.
	Now func() time.Time
	// Logger receives internal errors; default discards.
	Logger *slog.Logger
	// Registerer takes the handler's metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
}

// Handler serves the SQS JSON protocol (POST / with X-Amz-Target:
// AmazonSQS.<Action>) and the older query protocol (form POSTs).
type Handler struct {
	cfg    Config
	engine *queue.Engine
	logger *slog.Logger
	verify *aws.Verifier
	tasks  moveTasks
	// requests counts requests by action, protocol and outcome.
	requests *prometheus.CounterVec
}

var _ http.Handler = (*Handler)(nil)

// New returns a handler for cfg.
func New(cfg Config) *Handler {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{
		cfg:    cfg,
		engine: cfg.Engine,
		logger: cfg.Logger.With("component", "sqs"),
		verify: aws.NewVerifier(aws.VerifierConfig{Service: "sqs", Keys: cfg.Keys, Now: cfg.Now}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docket_sqs_requests_total",
			Help: "Requests to the SQS-compatible endpoint, by action, protocol (json or query) and outcome (ok or the SQS error code).",
		}, []string{"action", "protocol", "outcome"}),
	}
	h.requests = promreg.Register(cfg.Registerer, h.requests)
	return h
}

// count records one answered request. Actions outside the SQS API count
// as "unknown", so a client cannot grow the label set.
func (h *Handler) count(action, protocol string, e *aws.Error) {
	if actions[action] == "" {
		action = "unknown"
	}
	outcome := "ok"
	if e != nil {
		outcome = e.Code
	}
	h.requests.WithLabelValues(action, protocol, outcome).Inc()
}

// IsSQSRequest reports whether r is an SQS request, which the server
// routes to a [Handler]: one of the JSON protocol (X-Amz-Target:
// AmazonSQS.<Action>), or a form POST of the query protocol to / or to a
// queue's /ACCOUNT/NAME whose Action is an SQS action. Docket's own API
// never posts forms, so the two cannot be confused. To find the Action of
// a form, IsSQSRequest reads the body and puts it back in r.Body; a form
// too large to read is taken as SQS's, and the handler refuses it.
func IsSQSRequest(r *http.Request) bool {
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), targetPrefix) {
		return true
	}
	_, ok := queryAction(r)
	return ok
}

// MaybeSQSRequest reports, without reading the body, whether r may be an
// SQS request: one with an X-Amz-Target header of SQS, or a form posted to
// a path of the query protocol. The server admits such requests within
// the SQS endpoint's limits before [IsSQSRequest] reads a form to find
// its Action.
func MaybeSQSRequest(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("X-Amz-Target"), targetPrefix) ||
		aws.IsFormPost(r) && isQueryPath(r.URL.Path)
}

// Refuse answers, in the request's protocol, a request the server refused
// before reading it: err of class errdefs.ErrTooLarge (code
// request_too_large) is RequestEntityTooLarge, errdefs.ErrUnavailable is
// ServiceUnavailable.
func (h *Handler) Refuse(w http.ResponseWriter, r *http.Request, err error) {
	e := engineError(err)
	if r.Header.Get("X-Amz-Target") == "" && aws.IsFormPost(r) {
		h.count("", "query", e)
		queryProtocol.WriteError(w, e)
		return
	}
	action, _ := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	h.count(action, "json", e)
	h.writeError(w, r, e)
}

// The protocols' answers: SQS's JSON protocol is awsJson 1.0, and the
// documents of its query protocol are of the 2012-11-05 API. Read only.
var (
	jsonProtocol  = aws.JSONProtocol{ContentType: "application/x-amz-json-1.0", Namespace: "com.amazonaws.sqs"}
	queryProtocol = aws.QueryProtocol{Namespace: queryNamespace}
)

// call is one request being served: who made it, for which host.
type call struct {
	ctx  context.Context
	key  aws.Key
	host string // the scheme and host that queue URLs lead back to
	need string // the capability the action needs on its queues
}

// ServeHTTP authenticates the request, decodes it and runs its action:
// requests with an X-Amz-Target header are of the JSON protocol, form
// POSTs without one of the query protocol.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Amz-Target") == "" && aws.IsFormPost(r) {
		h.serveQuery(w, r)
		return
	}
	action, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	fail := func(e *aws.Error) {
		h.count(action, "json", e)
		h.writeError(w, r, e)
	}
	if r.Method != http.MethodPost {
		fail(aws.NewError(aws.InvalidAction, "the SQS JSON protocol takes POST, not %s", r.Method))
		return
	}
	if !ok {
		fail(aws.NewError(aws.InvalidAction, "missing X-Amz-Target header %s<Action>", targetPrefix))
		return
	}
	body, c, serr := h.begin(w, r)
	if serr != nil {
		fail(serr)
		return
	}
	out, err := h.dispatch(c, action, func(v any) *aws.Error { return decodeJSON(body, v) })
	if err != nil {
		fail(engineError(err))
		return
	}
	h.count(action, "json", nil)
	if b, ok := fastEncode(nil, out); ok {
		jsonProtocol.WriteEncoded(w, b)
		return
	}
	if err := jsonProtocol.WriteResult(w, out); err != nil {
		h.logger.Debug("write response", "action", action, "err", err)
	}
}

// serveQuery serves a request of the query protocol.
func (h *Handler) serveQuery(w http.ResponseWriter, r *http.Request) {
	body, c, serr := h.begin(w, r)
	var vals url.Values
	if serr == nil {
		vals, serr = queryForm(r, body, c.host)
	}
	action := vals.Get("Action")
	if serr == nil && action == "" {
		serr = aws.NewError(aws.MissingParameter, "The request must contain the parameter Action.")
	}
	if serr != nil {
		h.count(action, "query", serr)
		h.logInternal(action, serr)
		queryProtocol.WriteError(w, serr)
		return
	}
	out, err := h.dispatch(c, action, aws.NewQueryDecoder(vals, action).Decode)
	if err != nil {
		e := engineError(err)
		h.count(action, "query", e)
		h.logInternal(action, e)
		queryProtocol.WriteError(w, e)
		return
	}
	h.count(action, "query", nil)
	if err := queryProtocol.WriteResult(w, action, out); err != nil {
		h.logger.Debug("write response", "action", action, "err", err)
	}
}

// begin reads the body of a request and authenticates it. A body over
// MaxRequestBody is refused, before it is read when it says its length.
func (h *Handler) begin(w http.ResponseWriter, r *http.Request) ([]byte, *call, *aws.Error) {
	body, serr := aws.ReadBody(w, r, MaxRequestBody)
	if serr != nil {
		return nil, nil, serr
	}
	c := &call{ctx: r.Context(), host: requestHost(r)}
	switch {
	case h.cfg.AllowUnsigned && r.Header.Get("Authorization") == "":
		c.key = aws.Key{Accessor: "anonymous", Access: aws.Everything}
	case h.cfg.Keys == nil:
		return nil, nil, aws.NewError(aws.MissingAuthenticationToken, "this server has no access keys configured")
	default:
		key, serr := h.verify.Verify(r, body)
		if serr != nil {
			return nil, nil, serr
		}
		c.key = key
	}
	return body, c, nil
}

// requestHost is the base of the queue URLs a request is answered with.
func requestHost(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// empty is the answer of actions that return nothing.
type empty struct{}

// decoder fills a request shape, given as a pointer, from a request of
// either protocol.
type decoder func(v any) *aws.Error

// run decodes a new In and calls fn with it.
func run[In any](dec decoder, fn func(*In) (any, error)) (any, error) {
	in := new(In)
	if err := dec(in); err != nil {
		return nil, err
	}
	return fn(in)
}

// actions are the actions of the SQS API, those this server serves and
// those it does not; read only.
// actions are the SQS actions, each with the capability it needs on the
// queues it names (the ACL's, as the native API's routes need them):
// sending needs send; receiving and settling what was received (delete,
// visibility) need receive; reading a queue's settings or listing needs
// read; changing a queue, its tags or its messages wholesale (purge, a
// move task) needs write.
var actions = map[string]string{
	"CreateQueue":                  "write",
	"GetQueueUrl":                  "read",
	"ListQueues":                   "read",
	"DeleteQueue":                  "write",
	"GetQueueAttributes":           "read",
	"SetQueueAttributes":           "write",
	"PurgeQueue":                   "write",
	"SendMessage":                  "send",
	"SendMessageBatch":             "send",
	"ReceiveMessage":               "receive",
	"DeleteMessage":                "receive",
	"DeleteMessageBatch":           "receive",
	"ChangeMessageVisibility":      "receive",
	"ChangeMessageVisibilityBatch": "receive",
	"AddPermission":                "write",
	"RemovePermission":             "write",
	"TagQueue":                     "write",
	"UntagQueue":                   "write",
	"ListQueueTags":                "read",
	"ListDeadLetterSourceQueues":   "read",
	"StartMessageMoveTask":         "write",
	"CancelMessageMoveTask":        "write",
	"ListMessageMoveTasks":         "read",
}

// dispatch runs one action, whichever protocol it came in.
func (h *Handler) dispatch(c *call, action string, body decoder) (any, error) {
	c.need = actions[action]
	switch action {
	case "CreateQueue":
		return run(body, func(in *createQueueRequest) (any, error) { return h.createQueue(c, in) })
	case "GetQueueUrl":
		return run(body, func(in *getQueueURLRequest) (any, error) { return h.getQueueURL(c, in) })
	case "ListQueues":
		return run(body, func(in *listQueuesRequest) (any, error) { return h.listQueues(c, in) })
	case "DeleteQueue":
		return run(body, func(in *queueURLRequest) (any, error) { return h.deleteQueue(c, in) })
	case "GetQueueAttributes":
		return run(body, func(in *getQueueAttributesRequest) (any, error) { return h.getQueueAttributes(c, in) })
	case "SetQueueAttributes":
		return run(body, func(in *setQueueAttributesRequest) (any, error) { return h.setQueueAttributes(c, in) })
	case "PurgeQueue":
		return run(body, func(in *queueURLRequest) (any, error) { return h.purgeQueue(c, in) })
	case "SendMessage":
		return run(body, func(in *sendMessageRequest) (any, error) { return h.sendMessage(c, in) })
	case "SendMessageBatch":
		return run(body, func(in *sendMessageBatchRequest) (any, error) { return h.sendMessageBatch(c, in) })
	case "ReceiveMessage":
		return run(body, func(in *receiveMessageRequest) (any, error) { return h.receiveMessage(c, in) })
	case "DeleteMessage":
		return run(body, func(in *deleteMessageRequest) (any, error) { return h.deleteMessage(c, in) })
	case "DeleteMessageBatch":
		return run(body, func(in *receiptBatchRequest) (any, error) { return h.deleteMessageBatch(c, in) })
	case "ChangeMessageVisibility":
		return run(body, func(in *changeVisibilityRequest) (any, error) { return h.changeVisibility(c, in) })
	case "ChangeMessageVisibilityBatch":
		return run(body, func(in *receiptBatchRequest) (any, error) { return h.changeVisibilityBatch(c, in) })
	case "ListDeadLetterSourceQueues":
		return run(body, func(in *listDeadLetterSourcesRequest) (any, error) { return h.listDeadLetterSources(c, in) })
	case "StartMessageMoveTask":
		return run(body, func(in *startMoveTaskRequest) (any, error) { return h.startMoveTask(c, in) })
	case "ListMessageMoveTasks":
		return run(body, func(in *listMoveTasksRequest) (any, error) { return h.listMoveTasks(c, in) })
	case "CancelMessageMoveTask":
		return run(body, func(in *cancelMoveTaskRequest) (any, error) { return h.cancelMoveTask(c, in) })
	case "TagQueue":
		return run(body, func(in *tagQueueRequest) (any, error) { return h.tagQueue(c, in) })
	case "UntagQueue":
		return run(body, func(in *untagQueueRequest) (any, error) { return h.untagQueue(c, in) })
	case "ListQueueTags":
		return run(body, func(in *queueURLRequest) (any, error) { return h.listQueueTags(c, in) })
	case "AddPermission":
		return run(body, func(in *addPermissionRequest) (any, error) { return h.addPermission(c, in) })
	case "RemovePermission":
		return run(body, func(in *removePermissionRequest) (any, error) { return h.removePermission(c, in) })
	default:
		return nil, aws.NewError(aws.InvalidAction, "The action %s is not valid for this endpoint.", action)
	}
}

// writeError answers with an SQS error. Internal errors are logged here
// and nowhere else.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, e *aws.Error) {
	h.logInternal(r.Header.Get("X-Amz-Target"), e)
	jsonProtocol.WriteError(w, e)
}

// logInternal logs an internal error, and only those: the others are the
// client's to see.
func (h *Handler) logInternal(action string, e *aws.Error) {
	if e.Status >= 500 {
		h.logger.Error("sqs request failed", "action", action, "err", e, "cause", e.Cause)
	}
}
