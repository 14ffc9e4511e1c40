package httpapi

import "github.com/docketd/docket/internal/polltest"

var waitFor = polltest.WaitFor
