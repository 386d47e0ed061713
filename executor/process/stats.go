package process

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/k8sm/k8sm/executor/kubeletapi"
	"github.com/k8sm/k8sm/executor/process/cgroup"
)

// userHZ is the unit of /proc/stat's times (USER_HZ, 100 on every Linux architecture).
const userHZ = 100

// Stats reports the Node (the whole agent, from /proc) and, per running pod, its
// cgroup's and its running containers' usage. A pod or container without a cgroup is
// left out rather than reported as using nothing: metrics-server skips what is missing.
func (r *Runtime) Stats(context.Context) (kubeletapi.Stats, error) {
	var out kubeletapi.Stats
	out.Node = nodeStats()
	r.podsMu.Lock()
	pods := make([]*pod, 0, len(r.pods))
	for _, p := range r.pods {
		pods = append(pods, p)
	}
	r.podsMu.Unlock()
	for _, p := range pods {
		if ps, ok := p.stats(); ok {
			out.Pods = append(out.Pods, ps)
		}
	}
	return out, nil
}

// stats is the usage of a running pod with a cgroup.
func (p *pod) stats() (kubeletapi.PodStats, bool) {
	p.mu.Lock()
	pc := p.limits.pc
	type ctr struct {
		name  string
		start time.Time
		cg    *cgroup.Cgroup
	}
	var ctrs []ctr
	for _, c := range append(append([]*container{}, p.inits...), p.mains...) {
		if run := c.status.State.Running; run != nil && c.cg != nil {
			ctrs = append(ctrs, ctr{c.spec.Name, run.StartedAt.Time, c.cg.cg})
		}
	}
	final := p.final != nil
	p.mu.Unlock()
	if pc == nil || final {
		return kubeletapi.PodStats{}, false
	}
	u, ok := usageOf(&pc.Cgroup)
	if !ok {
		return kubeletapi.PodStats{}, false
	}
	ps := kubeletapi.PodStats{Namespace: p.pod.Namespace, Name: p.pod.Name, UID: string(p.pod.UID), StartTime: p.started.Time, Usage: u}
	for _, c := range ctrs {
		if u, ok := usageOf(c.cg); ok {
			ps.Containers = append(ps.Containers, kubeletapi.ContainerStats{Name: c.name, StartTime: c.start, Usage: u})
		}
	}
	return ps, true
}

func usageOf(cg *cgroup.Cgroup) (kubeletapi.Usage, bool) {
	s, err := cg.Stats()
	if err != nil {
		return kubeletapi.Usage{}, false
	}
	return kubeletapi.Usage{Time: time.Now(), CPUUsageNanoSeconds: s.CPUNanos, MemoryWorkingSetBytes: s.MemoryWorkingSet}, true
}

// nodeStats reads the agent's CPU time (all CPUs, idle and iowait excluded), boot time
// and memory in use (MemTotal − MemAvailable: what cannot be reclaimed, as the working
// set); a zero Time where they cannot be read.
func nodeStats() kubeletapi.NodeStats {
	var n kubeletapi.NodeStats
	cpu, boot, ok := procStat()
	mem, memOK := procMemInUse()
	if !ok || !memOK {
		return n
	}
	n.StartTime = boot
	n.Usage = kubeletapi.Usage{Time: time.Now(), CPUUsageNanoSeconds: cpu * (uint64(time.Second) / userHZ), MemoryWorkingSetBytes: mem}
	return n
}

// procStat reads /proc/stat's cpu line (in USER_HZ ticks) and btime.
func procStat() (ticks uint64, boot time.Time, ok bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, time.Time{}, false
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	cpuOK := false
	for s.Scan() {
		fields := strings.Fields(s.Text())
		switch {
		case len(fields) > 8 && fields[0] == "cpu":
			// user nice system idle iowait irq softirq steal
			for i, v := range fields[1:9] {
				if i == 3 || i == 4 {
					continue
				}
				n, _ := strconv.ParseUint(v, 10, 64)
				ticks += n
			}
			cpuOK = true
		case len(fields) == 2 && fields[0] == "btime":
			sec, _ := strconv.ParseInt(fields[1], 10, 64)
			boot = time.Unix(sec, 0)
		}
	}
	return ticks, boot, cpuOK && !boot.IsZero()
}

// procMemInUse is MemTotal − MemAvailable from /proc/meminfo, in bytes.
func procMemInUse() (uint64, bool) {
	kb := meminfo()
	total, okT := kb["MemTotal"]
	avail, okA := kb["MemAvailable"]
	if !okT || !okA || avail > total {
		return 0, false
	}
	return (total - avail) << 10, true
}

// meminfo is /proc/meminfo's figures, in kB; empty where there is none.
func meminfo() map[string]uint64 {
	kb := map[string]uint64{}
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return kb
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err == nil {
			kb[k] = n
		}
	}
	return kb
}

// memTotal is the agent's memory in bytes (MemTotal), the kubelet's memory capacity;
// 0 where it is not known.
func memTotal() int64 {
	return int64(meminfo()["MemTotal"] << 10)
}
