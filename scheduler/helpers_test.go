package scheduler_test

import (
	"time"

	"github.com/docketd/docket/specs"
)

func specsDuration(d time.Duration) specs.Duration { return specs.Duration(d) }
