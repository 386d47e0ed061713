// Package podlogs keeps a container's output as the kubelet's container runtimes do, so
// that the kubelet API served by the executor (package kubeletapi) can answer
// `kubectl logs` with the kubelet's semantics.
//
// A container instance (one run of a container; its restart count names it) writes its
// stdout and stderr into one file, <dir>/<restart>.log, in the CRI log format that
// containerd writes and the kubelet reads:
//
//	2026-01-02T15:04:05.000000000Z stdout F a whole line
//	2026-01-02T15:04:05.000000001Z stderr P the first 16 KiB of a longer line
//	2026-01-02T15:04:05.000000002Z stderr F and its end
//
// The file rotates as the kubelet's containerLogMaxSize/containerLogMaxFiles rotate it
// (<n>.log.<yyyymmdd-hhmmss>), and the instance before the current one is kept, as the
// kubelet keeps the previous container's log for `kubectl logs --previous`.
//
// Read answers a corev1.PodLogOptions over the files of one instance: it reads the
// rotated files too (the kubelet reads only the current file), joins partial lines, and
// follows the log across rotations until the instance ends.
package podlogs
