// Package specs owns Docket's job language: the model of queues and jobs that
// the rest of the system schedules, the HCL syntax users write it in, and the
// rules every model must satisfy.
//
// A job file holds variable, queue and job blocks. [Parse] reads one file,
// resolves its variables (defaults, DOCKET_VAR_ environment variables, var
// files and -var options, in increasing precedence), decodes every block
// against an explicit schema, fills in defaults and validates the result.
// Every problem comes back as an [hcl.Diagnostic] whose Subject points at the
// most precise source range: the value of a bad attribute, the label of a bad
// or duplicate name, or the block type of a block that lacks something.
//
// The same model travels over the HTTP API as JSON. [File.Validate] applies
// the very same rules to a model that arrives that way; its problems carry a
// field path such as jobs[0].tasks[1].image instead of a source position.
// Both paths share one implementation of the rules (rules_*.go) and of the
// defaults (defaults.go), so a file accepted by [Parse] is accepted by the
// API and vice versa.
//
// What a job type means beyond the rules (how its allocations are planned,
// scaled and finished) is one row of the table [KindOf] reads (kinds.go):
// the scheduler, its reconciler and the agent ask the job's [JobKind]
// rather than compare type names, and the rules here ask it too. The
// constraint operators ([Operators]) and node attributes ([NodeAttributes])
// are likewise declared here once, for the scheduler's placement to
// evaluate.
//
// Parsing stays within [Limits], because servers parse files from anyone and
// HCL alone would let a short file crash or occupy them: its parser recurses
// once per level of nesting, and its expressions can loop and build large
// values. A byte scanner that follows HCL's lexer refuses sources nested too
// deeply before the parser sees them (nesting.go); every expression and
// function is then evaluated through a budget of steps and bytes that also
// watches the context of [ParseContext] (budget.go, functions.go). A source
// refused for what it would cost gets a diagnostic at the offending place
// whose Extra is a [*Refusal], so that a server can answer it apart from
// ordinary mistakes.
//
// The package never touches the filesystem: callers read job files and var
// files themselves, and expressions only get pure functions (no file or
// templatefile), so job files sent to a server cannot read the server's disk.
package specs
