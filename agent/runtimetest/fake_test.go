package runtimetest_test

import (
	"testing"

	"github.com/docketd/docket/agent/runtimetest"
	"github.com/docketd/docket/internal/ocibuild"
)

// TestFakeConformance proves the Fake behaves as the runtimes it stands
// for.
func TestFakeConformance(t *testing.T) {
	const ref = "docket.test/testprog:fake"
	var img ocibuild.Image
	runtimetest.Conformance(t, runtimetest.Harness{
		Image: func(t *testing.T) string {
			img = runtimetest.TestProgImage(t, ref)
			return ref
		},
		New: func(t *testing.T) runtimetest.RuntimeUnderTest {
			f := runtimetest.NewFake(runtimetest.FakeConfig{Images: map[string]ocibuild.Image{ref: img}})
			t.Cleanup(f.Shutdown) // after the suite's own cleanups, which remove its tasks
			return underTest(f)
		},
	})
}

func underTest(f *runtimetest.Fake) runtimetest.RuntimeUnderTest {
	return runtimetest.RuntimeUnderTest{
		Runtime: f,
		Reopen:  func(t *testing.T) runtimetest.RuntimeUnderTest { return underTest(f.Reopen()) },
		Close:   f.Close,
	}
}
