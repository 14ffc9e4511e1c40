// Package memo remembers computed values for concurrent use, in a map
// bounded by emptying it when full: for values that are cheap to compute
// again and keys that are few (an image's facts, a day's signing key).
package memo
