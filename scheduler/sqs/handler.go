package sqs

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/docketd/docket/internal/queue"
)

// targetPrefix starts the X-Amz-Target header of every SQS request.
const targetPrefix = "AmazonSQS."

// maxRequestBody bounds a request body: ten messages of the largest size
// the engine allows, with room for JSON escaping and base64.
const maxRequestBody = 32 << 20

// Config configures a [Handler]. Zero fields take the defaults noted.
type Config struct {
	// Engine holds the queues. Required.
	Engine *queue.Engine
	// Keys are the access keys requests are signed with. Required unless
	// AllowUnsigned; with neither, every request is refused.
	Keys KeyStore
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
}

// Handler serves the SQS JSON protocol: POST / with X-Amz-Target:
// AmazonSQS.<Action>.
type Handler struct {
	cfg    Config
	engine *queue.Engine
	logger *slog.Logger
	verify verifier
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
	return &Handler{
		cfg:    cfg,
		engine: cfg.Engine,
		logger: cfg.Logger.With("component", "sqs"),
		verify: verifier{keys: cfg.Keys, now: cfg.Now},
	}
}

// IsSQSRequest reports whether r is a request of the SQS JSON protocol,
// which the server routes to a [Handler].
func IsSQSRequest(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
}

// call is one request being served: who made it, for which host.
type call struct {
	ctx  context.Context
	key  Key
	host string // the scheme and host that queue URLs lead back to
}

// ServeHTTP authenticates the request, decodes it and runs its action.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		h.writeError(w, r, newError(kindInvalidAction, "the SQS JSON protocol takes POST, not %s", r.Method))
		return
	}
	action, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	if !ok {
		h.writeError(w, r, newError(kindInvalidAction, "missing X-Amz-Target header %s<Action>", targetPrefix))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.writeError(w, r, newError(kindRequestTooLarge, "request body over %d bytes", mbe.Limit))
			return
		}
		h.writeError(w, r, newError(kindSerialization, "read request body: %v", err))
		return
	}
	c := &call{ctx: r.Context(), host: requestHost(r)}
	switch {
	case h.cfg.AllowUnsigned && r.Header.Get("Authorization") == "":
		// Unsigned, with every queue.
	case h.cfg.Keys == nil:
		h.writeError(w, r, newError(kindMissingAuth, "this server has no access keys configured"))
		return
	default:
		key, serr := h.verify.verify(r, body)
		if serr != nil {
			h.writeError(w, r, serr)
			return
		}
		c.key = key
	}
	out, err := h.dispatch(c, action, body)
	if err != nil {
		h.writeError(w, r, engineError(err))
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(http.StatusOK)
	if err := json.NewEncoder(w).Encode(out); err != nil {
		h.logger.Debug("write response", "action", action, "err", err)
	}
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

// run decodes body into a new In and calls fn with it.
func run[In any](body []byte, fn func(*In) (any, error)) (any, error) {
	in := new(In)
	if err := decodeJSON(body, in); err != nil {
		return nil, err
	}
	return fn(in)
}

// dispatch runs one action.
func (h *Handler) dispatch(c *call, action string, body []byte) (any, error) {
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
	case "AddPermission", "RemovePermission", "TagQueue", "UntagQueue", "ListQueueTags",
		"ListDeadLetterSourceQueues", "StartMessageMoveTask", "CancelMessageMoveTask", "ListMessageMoveTasks":
		return nil, newError(kindUnsupportedOperation, "%s is not supported by this server yet", action)
	default:
		return nil, newError(kindInvalidAction, "The action %s is not valid for this endpoint.", action)
	}
}

// errorBody is the JSON protocol's error document.
type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

// writeError answers with an SQS error. Internal errors are logged here
// and nowhere else.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, e *Error) {
	if e.Status >= 500 {
		h.logger.Error("sqs request failed", "target", r.Header.Get("X-Amz-Target"), "err", e, "cause", e.cause)
	}
	ns := e.Namespace
	if ns == "" {
		ns = "com.amazonaws.sqs"
	}
	if e.QueryCode != "" {
		fault := "Sender"
		if !e.Sender {
			fault = "Receiver"
		}
		w.Header().Set("x-amzn-query-error", e.QueryCode+";"+fault)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(errorBody{Type: ns + "#" + e.Code, Message: e.Message})
}
