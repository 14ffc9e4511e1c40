package specs

import (
	"fmt"
	"slices"
	"strings"
)

// validQueueName reports whether s is a queue name as SQS accepts it: 1 to 80
// letters, digits, hyphens and underscores.
func validQueueName(s string) bool {
	if len(s) < 1 || len(s) > 80 {
		return false
	}
	for _, c := range s {
		if !isLetterOrDigit(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// validObjectName reports whether s is a job or task name: it matches
// [a-z0-9][a-z0-9_-]{0,62}, so it fits a DNS label, a container id part and
// a file name.
func validObjectName(s string) bool {
	if len(s) < 1 || len(s) > 63 {
		return false
	}
	for i, c := range s {
		lowerOrDigit := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !lowerOrDigit && (i == 0 || c != '-' && c != '_') {
			return false
		}
	}
	return true
}

func isLetterOrDigit(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

const (
	queueNameRule  = `use 1 to 80 letters, digits, "-" or "_"`
	objectNameRule = `use 1 to 63 lowercase letters, digits, "-" or "_", starting with a letter or digit`
)

// jobTypes, operators and killSignals return the accepted values of an enum.
// They are functions, not package variables, so nothing can change them.
func jobTypes() []string { return []string{JobService, JobBatch, JobDispatch} }

// The constraint operators.
const (
	OpEqual         = "="
	OpNotEqual      = "!="
	OpIn            = "in"
	OpNotIn         = "not_in"
	OpRegexp        = "regexp"
	OpDistinctHosts = "distinct_hosts"
)

func operators() []string {
	return []string{OpEqual, OpNotEqual, OpIn, OpNotIn, OpRegexp, OpDistinctHosts}
}

// killSignals are the signals a task may be asked to stop with. SIGSTOP and
// friends are left out: they do not stop a process.
func killSignals() []string {
	return []string{
		"SIGABRT", "SIGALRM", "SIGHUP", "SIGINT", "SIGKILL", "SIGPWR",
		"SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGWINCH",
	}
}

// oneOf formats the accepted values of an enum for a message:
// "a", "b" or "c".
func oneOf(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = fmt.Sprintf("%q", v)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// nodeAttributes are the fixed node attributes constraints and spreads may
// name; node.meta.<key> is accepted besides.
func nodeAttributes() []string {
	return []string{"node.name", "node.class", "node.os", "node.arch"}
}

const nodeMetaPrefix = "node.meta."

func validNodeAttribute(s string) bool {
	if slices.Contains(nodeAttributes(), s) {
		return true
	}
	key, ok := strings.CutPrefix(s, nodeMetaPrefix)
	if !ok || key == "" {
		return false
	}
	for _, c := range key {
		if !isLetterOrDigit(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

const nodeAttributeRule = "node.name, node.class, node.os, node.arch or node.meta.<key>"
