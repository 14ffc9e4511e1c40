package scheduler

// Identity is who makes a request, as its transport authenticated it.
// Every operation of the control layer takes one. Today it carries only
// the token a request presented, which the queue routes read as a queue
// worker's token (an allocation's, tokens.go); the ACL issue adds the
// policies the token holds, so that every operation can be authorized in
// one place.
type Identity struct {
	// Token is the secret the request presented (X-Docket-Token or a
	// bearer token), or "".
	Token string
}
