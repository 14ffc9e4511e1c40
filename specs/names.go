package specs

import (
	"fmt"
	"slices"
	"strings"
)

// validQueueName reports whether s is a queue name as SQS accepts it: 1 to 80
// letters, digits, hyphens and underscores, a FIFO queue's ending in .fifo.
func validQueueName(s string) bool {
	base := strings.TrimSuffix(s, ".fifo")
	return len(s) <= 80 && validName(base, 80)
}

// ValidTopicName reports whether s is a topic name as SNS accepts it: 1
// to 256 letters, digits, hyphens and underscores, a FIFO topic's ending
// in .fifo.
func ValidTopicName(s string) bool {
	return len(s) <= 256 && validName(strings.TrimSuffix(s, ".fifo"), 256)
}

// validName reports whether s is 1 to max letters, digits, hyphens and
// underscores.
func validName(s string, max int) bool {
	if len(s) < 1 || len(s) > max {
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

// TopicNameRule says what ValidTopicName takes.
const TopicNameRule = "use 1 to 256 letters, digits, hyphens and underscores (a FIFO topic's ending in .fifo)"

const (
	queueNameRule  = `use 1 to 80 letters, digits, "-" or "_" (a FIFO queue's ending in ".fifo")`
	objectNameRule = `use 1 to 63 lowercase letters, digits, "-" or "_", starting with a letter or digit`
)

// The constraint operators. [Operators] lists them; the scheduler's
// placement evaluates them with these meanings.
const (
	// OpEqual requires the attribute to be set and equal to the value.
	OpEqual = "="
	// OpNotEqual requires the attribute to differ from the value; a node
	// lacking the attribute passes.
	OpNotEqual = "!="
	// OpIn requires the attribute to be set and to be one of the
	// comma-separated values.
	OpIn = "in"
	// OpNotIn requires the attribute to be none of the comma-separated
	// values; a node lacking the attribute passes.
	OpNotIn = "not_in"
	// OpRegexp requires the attribute to be set and to contain a match of
	// the regular expression (unanchored, Go RE2 syntax).
	OpRegexp = "regexp"
	// OpDistinctHosts allows at most one allocation of the job per node. It
	// takes neither attribute nor value.
	OpDistinctHosts = "distinct_hosts"
)

// Operators returns the constraint operators, in the order messages list
// them. Like the other lists of accepted values (the job types, the node
// attributes, the kill signals) it is a function, not a package variable,
// so nothing can change it.
func Operators() []string {
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

// The node attributes constraints and spreads may name: the fixed ones, and
// NodeMetaPrefix followed by a key of the node's meta.
const (
	AttrNodeName   = "node.name"
	AttrNodeClass  = "node.class"
	AttrNodeOS     = "node.os"
	AttrNodeArch   = "node.arch"
	NodeMetaPrefix = "node.meta."
)

// NodeAttributes returns the fixed node attributes, in the order messages
// list them; node.meta.<key> is accepted besides.
func NodeAttributes() []string {
	return []string{AttrNodeName, AttrNodeClass, AttrNodeOS, AttrNodeArch}
}

func validNodeAttribute(s string) bool {
	if slices.Contains(NodeAttributes(), s) {
		return true
	}
	key, ok := strings.CutPrefix(s, NodeMetaPrefix)
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

// nodeAttributeRule says which attributes are valid, for messages:
// "node.name, node.class, node.os, node.arch or node.meta.<key>".
func nodeAttributeRule() string {
	return strings.Join(NodeAttributes(), ", ") + " or " + NodeMetaPrefix + "<key>"
}
