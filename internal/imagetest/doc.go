// Package imagetest builds the container images Docket's tests run: it
// compiles Go programs into static binaries and packs them into OCI archives
// with [github.com/docketd/docket/internal/ocibuild], ready for containerd's
// Client.Import or an `oci-archive:PATH` image in a job.
//
// Binaries are cached on disk under os.TempDir(), keyed by a hash of
// everything that goes into them (toolchain, target, flags, and the content
// of every non-standard package they import), so a test that asks for the
// same program again, in the same run or a later one, gets it without a
// rebuild.
//
// The bundled program testprog (see [TestProgPackage]) is meant for every
// container test: one binary that echoes, exits with a chosen code, sleeps,
// traps SIGTERM, eats memory or CPU, and reads or writes files, chosen by its
// arguments. [TestProgArchive] wraps it in an image.
package imagetest
