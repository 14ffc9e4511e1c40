// Package ocibuild builds small OCI images from files held in memory or on the
// host, and writes them as OCI archives: a tar of an OCI image layout whose
// index.json names the image, so that `ctr images import`, containerd's
// Client.Import and Docket's `oci-archive:PATH` images all know it by the
// name it was built with.
//
// It exists because Docket has no registry to pull from in its tests and on
// air-gapped hosts: test images and the example workers are a static binary on
// top of the small root filesystem skeleton this package adds (/etc/passwd,
// /etc/group, /tmp and friends), and nothing else.
//
// Output is deterministic: timestamps are fixed at the Unix epoch, owners at
// root unless told otherwise, and entries sorted, so the same [Image] always
// gives the same manifest digest (for a given Go toolchain, whose gzip
// encoder produces the compressed bytes).
//
// It has no testing dependencies; tests reach it through
// internal/imagetest.
package ocibuild
