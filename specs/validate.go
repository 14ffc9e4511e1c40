package specs

// ValidateOptions tune [File.Validate].
type ValidateOptions struct {
	// QueueExists, when non-nil, accepts a job's queue or a queue's
	// dead_letter that the file does not define if it reports true: the
	// server passes a lookup of the queues it already has.
	QueueExists func(name string) bool
}

// Validate checks a model that did not come from [Parse], typically one
// decoded from JSON by the API, with the same rules Parse applies. It first
// fills zero fields whose zero is not a valid value with their defaults (a
// zero that is valid, such as a delay of 0s, stays zero), so a client may
// omit them. The returned error is a [*ValidationError] listing every
// problem with its field path; it wraps [ErrInvalid].
func (f *File) Validate(opts ValidateOptions) error {
	if f == nil {
		return &ValidationError{Problems: []Problem{{Summary: "Empty file", Message: "no file"}}}
	}
	f.applyDefaults(fillUnset)
	ps := f.check(opts.QueueExists)
	if len(ps) == 0 {
		return nil
	}
	e := &ValidationError{Problems: make([]Problem, len(ps))}
	for i, p := range ps {
		e.Problems[i] = p.public()
	}
	return e
}

// check applies every rule to f, which holds its defaults already, and
// returns the problems in model order.
func (f *File) check(queueExists func(string) bool) problems {
	var ps problems
	if len(f.Queues) == 0 && len(f.Jobs) == 0 && len(f.Topics) == 0 {
		ps.add(nil, "Empty file", "the file defines no queue, topic or job")
	}
	defined := make(map[string]bool, len(f.Queues))
	for _, q := range f.Queues {
		if q != nil {
			defined[q.Name] = true
		}
	}
	known := func(name string) bool {
		return defined[name] || queueExists != nil && queueExists(name)
	}
	ps.checkQueues(f.Queues, known)
	ps.checkTopics(f.Topics, known)
	ps.checkJobs(f.Jobs, known)
	return ps
}
