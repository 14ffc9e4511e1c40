// Package containerd implements [agent.Runtime] and [agent.Inspector] on a
// containerd daemon (1.6 or later) through the containerd v1.7 client. It is
// the only package of Docket that imports containerd.
//
// A task becomes one container in the runtime's namespace ("docket" by
// default) whose ID is the task's: the image is imported from an OCI archive
// ("oci-archive:PATH") or pulled from a registry once per [Runtime] and
// unpacked into the snapshotter; the container gets the image's
// configuration overridden by the task's command, arguments, environment,
// working directory and user, the host's network, bind mounts, and cgroup
// limits for CPU and memory.
//
// Containers outlive the Runtime that started them, as containerd keeps them:
// a new Runtime (an agent that restarted) finds them with [Runtime.List] and
// waits for them with [Runtime.Wait]. Their output does not pass through
// the agent either. Each task's shim starts a logger process, the binary in
// [Config.LoggerBinary] (the docket binary itself, whose hidden logger
// command calls [RunLogger]), which writes the task's stdout and stderr to
// files in the task's log directory and rotates them; it lives as long as
// the task, whatever happens to the agent.
//
// Whether a task was killed by the kernel for exceeding its memory limit is
// read from the counters of its cgroup (memory.oom_control under cgroup v1,
// memory.events under v2) through containerd's task metrics, which stay
// readable until the task is deleted; an exit status of 137 alone does not
// tell an OOM kill from a SIGKILL.
package containerd
