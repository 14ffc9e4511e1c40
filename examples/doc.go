// Package examples holds the job files a user copies to get started and the
// sources of the example worker images. Its test parses every job file, so an
// example that stops being valid fails the build.
package examples
