// Package runtimetest holds what every implementation of [agent.Runtime]
// and [agent.Inspector] is tested with: [Conformance], the one suite that
// says how a runtime behaves, run by each implementation's tests through a
// [Harness]; [TestProgImage], the image the suite runs; and [Fake], an
// in-memory runtime for the agent's own tests, which passes the same suite.
//
// The suite drives internal/imagetest's testprog, a program whose arguments
// are steps such as "echo hi ; exit 3" or "trap-term". The Fake does not run
// it: it interprets the same steps in a goroutine per task, with real time,
// so that what the agent's tests see of a task matches what they would see
// of a container.
package runtimetest
