// Package containerdtest runs a real containerd for a test: [Start] launches
// the containerd binary on PATH with its own root, state directory, sockets
// and generated configuration under a fresh directory in os.TempDir(), waits
// until it serves, and registers a cleanup that leaves nothing behind: tasks
// and containers are killed and deleted, the daemon is stopped, stray shims
// are killed, mounts under its directories are undone and the directories
// removed.
//
// Daemons are independent: tests in several packages (several processes)
// may each run their own at once. Two things containerd keeps outside the
// directories it is given are shared among them, so tests must keep them
// apart themselves: the runc state directory (/run/containerd/runc/NAMESPACE)
// and the cgroup (/NAMESPACE/ID) are per container ID, and every daemon uses
// the namespace "docket". Give containers IDs no other test uses, such as
// those of [UniqueID].
//
// A test process that dies without running its cleanups (a panic, a
// -timeout) kills its daemons through the parent-death signal; the next
// [Start] in any test process finds what they left (shims, containers,
// mounts, directories) by a lock no live process holds, and removes it.
//
// Without the containerd binary on PATH, or when not running as root, the
// tests calling [Start] are skipped, unless the environment variable CI is
// set: then they fail, so a CI machine missing containerd cannot pass
// silently.
package containerdtest
