package cgroup

import (
	"errors"
	"os"
	"path/filepath"
)

// OOM reads the cgroup's OOM counts: take them before a container starts and after it
// ends, and OOMKilled says whether it was OOM-killed.
func (c *Cgroup) OOM() (OOM, error) {
	i := c.m.hierarchyOf("memory")
	if i < 0 {
		return OOM{}, errors.New("no memory controller: " + c.m.unusable["memory"])
	}
	d := c.dirs[i]
	if c.m.version == V2 {
		ev, err := readKeyed(filepath.Join(d, "memory.events"))
		if err != nil {
			return OOM{}, err
		}
		kills, counted := ev["oom_kill"]
		return OOM{Kills: kills, Counted: counted, LimitHits: ev["max"]}, nil
	}
	oc, err := readKeyed(filepath.Join(d, "memory.oom_control"))
	if err != nil {
		return OOM{}, err
	}
	hits, err := readUint(filepath.Join(d, "memory.failcnt"))
	if err != nil {
		return OOM{}, err
	}
	// With swap accounting the memory+swap counter, whose limit is the same, is
	// charged first, and fails first. (Linux 6.18 was seen to count failures of
	// neither then; but it counts OOM kills, which kernels before 4.13 did not.)
	if sw, err := readUint(filepath.Join(d, "memory.memsw.failcnt")); err == nil {
		hits += sw
	}
	kills, counted := oc["oom_kill"]
	return OOM{Kills: kills, Counted: counted, LimitHits: hits}, nil
}

// Stats is what a cgroup uses, for the kubelet's summary API (kubectl top). A
// controller not in use leaves its fields 0.
type Stats struct {
	// MemoryUsage is the memory charged to the cgroup, page cache included.
	MemoryUsage uint64
	// MemoryWorkingSet is the usage less the inactive page cache: what the kubelet
	// reports and evicts on.
	MemoryWorkingSet uint64
	// MemoryPeak is the highest usage (v2: Linux 5.19 and later).
	MemoryPeak uint64
	// CPUNanos is the CPU time the cgroup's processes used.
	CPUNanos uint64
	// Tasks is the number of tasks (threads) in the cgroup.
	Tasks uint64
}

// Stats reads the cgroup's usage.
func (c *Cgroup) Stats() (Stats, error) {
	var s Stats
	var err error
	if c.m.version == V2 {
		err = c.statsV2(&s)
	} else {
		err = c.statsV1(&s)
	}
	if i := c.m.hierarchyOf("pids"); i >= 0 && err == nil {
		s.Tasks, err = readUint(filepath.Join(c.dirs[i], "pids.current"))
	}
	return s, err
}

func (c *Cgroup) statsV2(s *Stats) error {
	d := c.dirs[0]
	// cpu.stat is there with or without the cpu controller.
	cpu, err := readKeyed(filepath.Join(d, "cpu.stat"))
	if err != nil {
		return err
	}
	s.CPUNanos = cpu["usage_usec"] * 1000
	if c.m.hierarchyOf("memory") < 0 {
		return nil
	}
	if s.MemoryUsage, err = readUint(filepath.Join(d, "memory.current")); err != nil {
		return err
	}
	st, err := readKeyed(filepath.Join(d, "memory.stat"))
	if err != nil {
		return err
	}
	s.MemoryWorkingSet = workingSet(s.MemoryUsage, st["inactive_file"])
	if peak, err := readUint(filepath.Join(d, "memory.peak")); err == nil {
		s.MemoryPeak = peak
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (c *Cgroup) statsV1(s *Stats) error {
	var err error
	if i := c.m.hierarchyOf("cpuacct"); i >= 0 {
		if s.CPUNanos, err = readUint(filepath.Join(c.dirs[i], "cpuacct.usage")); err != nil {
			return err
		}
	}
	i := c.m.hierarchyOf("memory")
	if i < 0 {
		return nil
	}
	d := c.dirs[i]
	if s.MemoryUsage, err = readUint(filepath.Join(d, "memory.usage_in_bytes")); err != nil {
		return err
	}
	st, err := readKeyed(filepath.Join(d, "memory.stat"))
	if err != nil {
		return err
	}
	s.MemoryWorkingSet = workingSet(s.MemoryUsage, st["total_inactive_file"])
	s.MemoryPeak, err = readUint(filepath.Join(d, "memory.max_usage_in_bytes"))
	return err
}

// workingSet is the kubelet's (cadvisor's): usage less inactive file pages, never
// below 0.
func workingSet(usage, inactiveFile uint64) uint64 {
	if inactiveFile > usage {
		return 0
	}
	return usage - inactiveFile
}
