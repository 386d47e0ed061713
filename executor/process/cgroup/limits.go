package cgroup

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/resource"
)

// Limits are what one cgroup, a pod's or a container's, enforces.
type Limits struct {
	// MemoryBytes is the hard memory limit, swap included (a process over it is
	// OOM-killed, never swapped out). 0: none.
	MemoryBytes int64
	// CPUMilli is the CPU limit, in thousandths of a CPU: a CFS quota per 100 ms
	// period. 0: none.
	CPUMilli int64
	// CPUSharesMilli is the CPU request, in thousandths of a CPU: the cgroup's share
	// of contended CPU (cpu.shares, cpu.weight). 0: the least share there is.
	CPUSharesMilli int64
	// Pids bounds the number of tasks (threads included). 0: none.
	Pids int64
}

// The kubelet's constants (pkg/kubelet/cm/helpers_linux.go), so that a pod gets the
// same CPU on the process runtime as on a node.
const (
	minShares    = 2
	maxShares    = 262144
	sharesPerCPU = 1024
	// QuotaPeriod is the CFS period the quota is set for, in microseconds.
	QuotaPeriod = 100000
	// minQuota: the kernel refuses a quota under 1 ms.
	minQuota = 1000
)

// Shares is cpu.shares for a CPU request in thousandths of a CPU: 1024 per CPU, at
// least 2 (what the kernel gives a cgroup with no request), at most 262144.
func Shares(milli int64) uint64 {
	if milli <= 0 {
		return minShares
	}
	shares := milli * sharesPerCPU / 1000
	if shares < minShares {
		return minShares
	}
	if shares > maxShares {
		return maxShares
	}
	return uint64(shares)
}

// Quota is cfs_quota_us for a CPU limit in thousandths of a CPU over QuotaPeriod; 0
// for none, else at least 1 ms.
func Quota(milli int64) int64 {
	if milli <= 0 {
		return 0
	}
	// Divide last: 1m of CPU over 100 ms is 100 µs, not 0; then the 1 ms minimum.
	q := milli * QuotaPeriod / 1000
	if q < minQuota {
		return minQuota
	}
	return q
}

// Weight is cgroup v2's cpu.weight (1–10000) for cpu.shares (2–262144): runc's linear
// mapping, which the kubelet relies on (2 → 1, 1024 → 39, 262144 → 10000).
func Weight(shares uint64) uint64 {
	if shares < minShares {
		shares = minShares
	}
	if shares > maxShares {
		shares = maxShares
	}
	return 1 + ((shares-2)*9999)/262142
}

// ContainerLimits is what the kubelet gives a container's cgroup: its memory limit,
// its CPU limit as a quota, and its CPU request as shares — the limit standing in for
// a request it does not set, as the kubelet's runtime manager does.
func ContainerLimits(c *corev1.Container) Limits {
	req := c.Resources.Requests.Cpu().MilliValue()
	lim := c.Resources.Limits.Cpu().MilliValue()
	if req == 0 && lim != 0 {
		req = lim
	}
	return Limits{MemoryBytes: c.Resources.Limits.Memory().Value(), CPUMilli: lim, CPUSharesMilli: req}
}

// PodLimits is what the kubelet gives a pod's cgroup (ResourceConfigForPod): the CPU
// requests summed as shares; the memory and CPU limits of the pod (the sum of its
// containers', init containers and sidecars counted as the scheduler counts them,
// plus overhead, or its pod-level resources) — but a limit only where every
// container declares one, or the pod-level resources do: one container without a
// memory limit leaves the pod without one. pids is the per-pod bound (the kubelet's
// podPidsLimit), a setting of the node, not of the pod.
func PodLimits(pod *corev1.Pod, pids int64) Limits {
	reqs := resource.PodRequests(pod, resource.PodResourcesOptions{})
	lims := resource.PodLimits(pod, resource.PodResourcesOptions{})
	memDeclared, cpuDeclared := true, true
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			memDeclared = memDeclared && !cs[i].Resources.Limits.Memory().IsZero()
			cpuDeclared = cpuDeclared && !cs[i].Resources.Limits.Cpu().IsZero()
		}
	}
	if r := pod.Spec.Resources; r != nil {
		memDeclared = memDeclared || !r.Limits.Memory().IsZero()
		cpuDeclared = cpuDeclared || !r.Limits.Cpu().IsZero()
	}
	l := Limits{CPUSharesMilli: reqs.Cpu().MilliValue(), Pids: pids}
	if memDeclared {
		l.MemoryBytes = lims.Memory().Value()
	}
	if cpuDeclared {
		l.CPUMilli = lims.Cpu().MilliValue()
	}
	return l
}

// Version is the cgroup interface a Manager uses.
type Version int

// The cgroup interfaces.
const (
	V1 Version = 1
	V2 Version = 2
)

// setting is one value for one control file of a controller.
type setting struct {
	controller, file, value string
	// optional: a file the kernel may not have (no swap accounting, an old kernel);
	// without it the setting is skipped.
	optional bool
}

// settings are the files to write, in order, for limits on a fresh cgroup.
// container says it is a container's cgroup (a leaf), not a pod's.
func settings(v Version, l Limits, container bool) []setting {
	if v == V2 {
		return settingsV2(l, container)
	}
	var s []setting
	if l.MemoryBytes > 0 {
		n := strconv.FormatInt(l.MemoryBytes, 10)
		// memsw (memory+swap) no higher than memory: no swap, as the kubelet's
		// runtime sets it; the kernel wants memory set first.
		s = append(s, setting{controller: "memory", file: "memory.limit_in_bytes", value: n},
			setting{controller: "memory", file: "memory.memsw.limit_in_bytes", value: n, optional: true})
	}
	s = append(s, setting{controller: "cpu", file: "cpu.shares", value: strconv.FormatUint(Shares(l.CPUSharesMilli), 10)})
	if q := Quota(l.CPUMilli); q > 0 {
		s = append(s, setting{controller: "cpu", file: "cpu.cfs_period_us", value: strconv.Itoa(QuotaPeriod)},
			setting{controller: "cpu", file: "cpu.cfs_quota_us", value: strconv.FormatInt(q, 10)})
	}
	if l.Pids > 0 {
		s = append(s, setting{controller: "pids", file: "pids.max", value: strconv.FormatInt(l.Pids, 10)})
	}
	return s
}

func settingsV2(l Limits, container bool) []setting {
	var s []setting
	if l.MemoryBytes > 0 {
		s = append(s, setting{controller: "memory", file: "memory.max", value: strconv.FormatInt(l.MemoryBytes, 10)},
			setting{controller: "memory", file: "memory.swap.max", value: "0", optional: true})
	}
	if container {
		// The whole container goes when one of its processes is OOM-killed, as the
		// kubelet sets it on v2 (singleProcessOOMKill off): no half-dead container.
		s = append(s, setting{controller: "memory", file: "memory.oom.group", value: "1", optional: true})
	}
	s = append(s, setting{controller: "cpu", file: "cpu.weight", value: strconv.FormatUint(Weight(Shares(l.CPUSharesMilli)), 10)})
	if q := Quota(l.CPUMilli); q > 0 {
		s = append(s, setting{controller: "cpu", file: "cpu.max", value: strconv.FormatInt(q, 10) + " " + strconv.Itoa(QuotaPeriod)})
	}
	if l.Pids > 0 {
		s = append(s, setting{controller: "pids", file: "pids.max", value: strconv.FormatInt(l.Pids, 10)})
	}
	return s
}

// OOM is what a cgroup's memory controller counts of OOM kills.
type OOM struct {
	// Kills is how many of the cgroup's processes the kernel's OOM killer killed
	// (v2 memory.events and v1 memory.oom_control, field oom_kill), whichever limit
	// was hit: the container's, the pod's, the executor's, or the host's.
	Kills uint64
	// Counted: the kernel counts kills (Linux 4.13 and later). Before, Kills is 0.
	Counted bool
	// LimitHits is how many times the cgroup's usage hit its limit (v1
	// memory.failcnt, v2 memory.events max): the only clue where kills are not
	// counted.
	LimitHits uint64
}

// OOMKilled says whether a container that exited with exitCode (128+signal for a
// signal) was OOM-killed, from its cgroup's counts before it started and after it
// ended. The kubelet's runtime (containerd) says OOMKilled when the container's cgroup
// saw an OOM kill while it ran; so does this, where the kernel counts kills, for a
// container that did not exit 0 (a shell whose child was OOM-killed and that carried
// on to exit 0 did not fail). Where it does not count them, a container killed by
// SIGKILL (137) after its cgroup hit its limit is taken for OOM-killed: a guess, which
// a `kill -9` of a container near its limit would fool.
func OOMKilled(before, after OOM, exitCode int32) bool {
	if exitCode == 0 {
		return false
	}
	if after.Counted {
		return after.Kills > before.Kills
	}
	return exitCode == 128+9 && after.LimitHits > before.LimitHits
}
