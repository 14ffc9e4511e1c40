// Package lambda serves Docket's functions over AWS Lambda's API, so that
// `aws lambda invoke`, boto3 and aws-sdk-go-v2's Lambda client work
// against a Docket server unchanged. Lambda speaks REST-JSON, signed
// with SigV4 for the service "lambda":
//
//	POST /2015-03-31/functions/{FunctionName}/invocations   Invoke
//	GET  /2015-03-31/functions/{FunctionName}               GetFunction
//	GET  /2015-03-31/functions/                             ListFunctions
//
// FunctionName is a name, a function ARN or a partial ARN
// (ACCOUNT:function:NAME), with an optional :$LATEST qualifier. Invoke
// takes X-Amz-Invocation-Type (RequestResponse, Event, DryRun) and
// X-Amz-Client-Context, and answers with the function's payload,
// X-Amz-Function-Error when it failed and X-Amz-Executed-Version. It is a
// thin transport: each action calls one method of the control layer as
// the identity of the request's access key, and maps its errors onto
// Lambda's.
package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/docketd/docket/internal/errdefs"
	"github.com/docketd/docket/internal/promreg"
	"github.com/docketd/docket/scheduler"
	"github.com/docketd/docket/scheduler/api"
	"github.com/docketd/docket/scheduler/aws"
)

// PathPrefix begins every path of Lambda's API this package serves.
const PathPrefix = "/2015-03-31/functions"

// MaxRequestBody bounds an invocation's payload: Lambda's 6 MiB.
const MaxRequestBody = scheduler.MaxSyncPayload

// Server is what the handler needs of the control layer.
type Server interface {
	AWSIdentity(k aws.Key) scheduler.Identity
	Invoke(ctx context.Context, caller scheduler.Identity, name string, in api.InvokeRequest) (api.InvokeResponse, error)
	Function(caller scheduler.Identity, name string) (api.Function, error)
	Functions(caller scheduler.Identity) api.Functions
}

// Config configures a [Handler].
type Config struct {
	Server Server
	// Keys are the access keys requests are signed with.
	Keys aws.KeyStore
	// AllowUnsigned lets requests without a signature in, with every
	// capability; only for an explicit operator flag.
	AllowUnsigned bool
	Now           func() time.Time
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
}

// Handler serves Lambda's API.
type Handler struct {
	cfg      Config
	verify   *aws.Verifier
	logger   *slog.Logger
	requests *prometheus.CounterVec
}

// New returns a handler for cfg.
func New(cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, logger: cfg.Logger.With("component", "lambda"),
		verify: aws.NewVerifier(aws.VerifierConfig{Service: "lambda", Keys: cfg.Keys, Now: cfg.Now}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "docket_lambda_requests_total",
			Help: "Requests to the Lambda-compatible endpoint, by action and outcome (ok or the Lambda error code).",
		}, []string{"action", "outcome"}),
	}
	h.requests = promreg.Register(cfg.Registerer, h.requests)
	return h
}

// IsLambdaRequest reports whether r is for Lambda's API.
func IsLambdaRequest(r *http.Request) bool {
	return r.URL.Path == PathPrefix || strings.HasPrefix(r.URL.Path, PathPrefix+"/")
}

// Lambda's errors: the status, and the code it sends in X-Amzn-ErrorType.
type kind struct {
	status int
	code   string
}

var (
	kindNotFound        = kind{http.StatusNotFound, "ResourceNotFoundException"}
	kindInvalidParam    = kind{http.StatusBadRequest, "InvalidParameterValueException"}
	kindInvalidContent  = kind{http.StatusBadRequest, "InvalidRequestContentException"}
	kindTooLarge        = kind{http.StatusRequestEntityTooLarge, "RequestTooLargeException"}
	kindThrottled       = kind{http.StatusTooManyRequests, "TooManyRequestsException"}
	kindAccessDenied    = kind{http.StatusForbidden, "AccessDeniedException"}
	kindService         = kind{http.StatusInternalServerError, "ServiceException"}
	kindUnavailable     = kind{http.StatusServiceUnavailable, "ServiceException"}
	kindUnknownOp       = kind{http.StatusNotFound, "UnknownOperationException"}
	kindUnrecognizedKey = kind{http.StatusForbidden, "UnrecognizedClientException"}
	kindBadSignature    = kind{http.StatusForbidden, "InvalidSignatureException"}
)

type lambdaError struct {
	kind
	message string
	reason  string
}

// writeError answers as Lambda does: the code in X-Amzn-ErrorType, and a
// body with Type (User or Service), message and, for throttles, Reason.
func writeError(w http.ResponseWriter, e lambdaError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", e.code)
	h.Set("x-amzn-RequestId", aws.NewRequestID())
	w.WriteHeader(e.status)
	who := "User"
	if e.status >= 500 {
		who = "Service"
	}
	body := map[string]string{"Type": who, "message": e.message}
	if e.reason != "" {
		body["Reason"] = e.reason
	}
	json.NewEncoder(w).Encode(body)
}

// fromError maps a control-layer error onto Lambda's.
func fromError(err error) lambdaError {
	msg := err.Error()
	var de *errdefs.Error
	if errors.As(err, &de) {
		msg = de.Message
	}
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
		return lambdaError{kindNotFound, msg, ""}
	case errors.Is(err, errdefs.ErrTooManyRequests):
		return lambdaError{kindThrottled, "Rate Exceeded.", "ReservedFunctionConcurrentInvocationLimitExceeded"}
	case errors.Is(err, errdefs.ErrTooLarge):
		return lambdaError{kindTooLarge, msg, ""}
	case errors.Is(err, errdefs.ErrPermissionDenied), errors.Is(err, errdefs.ErrUnauthenticated):
		return lambdaError{kindAccessDenied, msg, ""}
	case errors.Is(err, errdefs.ErrInvalid):
		return lambdaError{kindInvalidParam, msg, ""}
	case errors.Is(err, errdefs.ErrUnavailable), errors.Is(err, errdefs.ErrClosed),
		errors.Is(err, errdefs.ErrStorageFull), errors.Is(err, errdefs.ErrStorageFailed):
		return lambdaError{kindUnavailable, msg, ""}
	}
	return lambdaError{kindService, "internal error", ""}
}

func fromAWSError(e *aws.Error) lambdaError {
	switch e.Code {
	case "InvalidClientTokenId":
		return lambdaError{kindUnrecognizedKey, e.Message, ""}
	case "SignatureDoesNotMatch", "IncompleteSignature", "RequestExpired":
		return lambdaError{kindBadSignature, e.Message, ""}
	case "MissingAuthenticationToken":
		return lambdaError{kind{http.StatusForbidden, "MissingAuthenticationTokenException"}, e.Message, ""}
	case "RequestEntityTooLarge":
		return lambdaError{kindTooLarge, e.Message, ""}
	}
	return lambdaError{kind{e.Status, e.Code}, e.Message, ""}
}

// functionName reads a FunctionName: a name, an ARN or a partial ARN,
// with the $LATEST qualifier or none.
func functionName(raw, qualifier string) (string, *lambdaError) {
	name := raw
	if strings.HasPrefix(name, "arn:") {
		parts := strings.Split(name, ":")
		// arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
		if len(parts) < 7 || parts[2] != "lambda" || parts[5] != "function" {
			return "", &lambdaError{kindInvalidParam, "invalid function ARN " + strconv.Quote(raw), ""}
		}
		name = parts[6]
		if len(parts) == 8 {
			qualifier = parts[7]
		}
	} else if parts := strings.Split(name, ":"); len(parts) >= 3 && parts[1] == "function" {
		name = parts[2] // ACCOUNT:function:NAME[:QUALIFIER]
		if len(parts) == 4 {
			qualifier = parts[3]
		}
	} else if n, q, ok := strings.Cut(name, ":"); ok {
		name, qualifier = n, q
	}
	if qualifier != "" && qualifier != scheduler.FunctionVersion {
		return "", &lambdaError{kindNotFound, "Function not found: " + raw + " (only " + scheduler.FunctionVersion + " is published)", ""}
	}
	if name == "" || len(name) > 140 {
		return "", &lambdaError{kindInvalidParam, "invalid function name " + strconv.Quote(raw), ""}
	}
	return name, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	action := "unknown"
	fail := func(e lambdaError) {
		h.requests.WithLabelValues(action, e.code).Inc()
		writeError(w, e)
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.EscapedPath(), PathPrefix), "/")
	var fn string
	switch {
	case rest == "" && r.Method == http.MethodGet:
		action = "ListFunctions"
	case strings.HasSuffix(rest, "/invocations") && r.Method == http.MethodPost:
		action, fn = "Invoke", strings.TrimSuffix(rest, "/invocations")
	case rest != "" && !strings.Contains(rest, "/") && r.Method == http.MethodGet:
		action, fn = "GetFunction", rest
	default:
		fail(lambdaError{kindUnknownOp, "Unknown operation " + r.Method + " " + r.URL.Path, ""})
		return
	}
	if fn != "" {
		var err error
		if fn, err = url.PathUnescape(fn); err != nil {
			fail(lambdaError{kindInvalidParam, "invalid function name in the path", ""})
			return
		}
	}
	body, aerr := aws.ReadBody(w, r, MaxRequestBody)
	if aerr != nil {
		fail(fromAWSError(aerr))
		return
	}
	key := aws.Key{Access: aws.Everything, Accessor: "unsigned"}
	if r.Header.Get("Authorization") != "" || !h.cfg.AllowUnsigned {
		k, aerr := h.verify.Verify(r, body)
		if aerr != nil {
			fail(fromAWSError(aerr))
			return
		}
		key = k
	}
	caller := h.cfg.Server.AWSIdentity(key)
	var name string
	if fn != "" {
		n, lerr := functionName(fn, r.URL.Query().Get("Qualifier"))
		if lerr != nil {
			fail(*lerr)
			return
		}
		name = n
	}
	switch action {
	case "ListFunctions":
		fs := h.cfg.Server.Functions(caller)
		out := struct {
			Functions []functionConfiguration
		}{Functions: []functionConfiguration{}}
		for _, f := range fs.Functions {
			out.Functions = append(out.Functions, configuration(f))
		}
		h.writeJSON(w, out)
	case "GetFunction":
		f, err := h.cfg.Server.Function(caller, name)
		if err != nil {
			fail(fromError(err))
			return
		}
		h.writeJSON(w, struct {
			Configuration functionConfiguration
		}{configuration(f)})
	case "Invoke":
		in := api.InvokeRequest{Payload: body, Type: r.Header.Get("X-Amz-Invocation-Type"), ClientContext: r.Header.Get("X-Amz-Client-Context"),
			TraceID: r.Header.Get("X-Amzn-Trace-Id")}
		if len(body) > 0 && !json.Valid(body) {
			fail(lambdaError{kindInvalidContent, "Could not parse request body into json: the payload is not valid JSON", ""})
			return
		}
		if lt := r.Header.Get("X-Amz-Log-Type"); lt != "" && lt != "None" && lt != "Tail" {
			fail(lambdaError{kindInvalidParam, "X-Amz-Log-Type must be None or Tail, got " + strconv.Quote(lt), ""})
			return
		}
		out, err := h.cfg.Server.Invoke(r.Context(), caller, name, in)
		if err != nil {
			if r.Context().Err() != nil {
				return
			}
			fail(fromError(err))
			return
		}
		hd := w.Header()
		hd.Set("Content-Type", "application/json")
		hd.Set("x-amzn-RequestId", out.RequestID)
		hd.Set("X-Amz-Executed-Version", out.ExecutedVersion)
		if out.FunctionError != "" {
			hd.Set("X-Amz-Function-Error", out.FunctionError)
		}
		hd.Set("Content-Length", strconv.Itoa(len(out.Payload)))
		w.WriteHeader(out.StatusCode)
		w.Write(out.Payload)
	}
	h.requests.WithLabelValues(action, "ok").Inc()
}

func (h *Handler) writeJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-RequestId", aws.NewRequestID())
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

// functionConfiguration is Lambda's FunctionConfiguration, with what a
// Docket function has of it.
type functionConfiguration struct {
	FunctionName string
	FunctionArn  string
	Runtime      string
	Handler      string `json:",omitempty"`
	MemorySize   int
	Timeout      int
	Version      string
	PackageType  string
	State        string
}

func configuration(f api.Function) functionConfiguration {
	timeout := 0
	if d, err := time.ParseDuration(f.Timeout); err == nil {
		timeout = int(d.Seconds())
	}
	return functionConfiguration{FunctionName: f.Name, FunctionArn: f.ARN, Runtime: "provided", Handler: f.Handler,
		MemorySize: f.Memory, Timeout: timeout, Version: scheduler.FunctionVersion, PackageType: "Image", State: "Active"}
}
