// Package cgroup enforces pods' resource limits on the process runtime, where a
// container is a child process of the executor: a cgroup per pod below the
// executor's own, and in it a cgroup per container, as the kubelet makes them.
//
// Layout, below the executor's own cgroup (from /proc/self/cgroup), in each v1
// hierarchy used (memory, cpu, cpuacct, pids) or in the v2 one:
//
//	<own>/k8sm/pod<uid>              the pod: the sum of its containers' limits
//	<own>/k8sm/pod<uid>/ctr-<name>   a container: its own limits; its processes
//	<own>/k8sm-executor              v2 only: the executor's processes
//
// Per-container cgroups are what the kubelet does: each container is held to its own
// limit, so an OOM kill lands in the container that went over it, and its count says
// which container to report OOMKilled. The pod's cgroup holds no process itself (on
// v2 it may not), only its containers'. On the Mesos agent the executor's own cgroup
// is the one the agent's cgroups isolators made for the executor's container (v1
// <hierarchy>/mesos/<container-id>, v2 mesos/<container-id>/leaf), whose limits (the
// executor's and its tasks' resources) bound all the pods together; the agent's
// destroy of that container removes ours with it (both kill and remove nested cgroups
// deepest first).
//
// Everything here is files under the cgroup mounts; a Manager is safe for concurrent
// use once made.
package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Manager makes, finds and removes the pods' cgroups.
type Manager struct {
	version Version
	// hiers are the hierarchies used, each with the pods' parent cgroup: the one v2
	// hierarchy, or one per v1 mount (cpu and cpuacct may share one).
	hiers []hierarchy
	// unusable says why each controller not used is not.
	unusable map[string]string
	warnings []string
}

type hierarchy struct {
	base        string   // the pods' parent: <mount>/<own>/k8sm
	controllers []string // the controllers it enforces (v2: those enabled)
}

// Version is the cgroup interface in use.
func (m *Manager) Version() Version { return m.version }

// Controllers are the controllers in use, among memory, cpu, cpuacct (v1) and pids.
func (m *Manager) Controllers() []string {
	var out []string
	for _, h := range m.hiers {
		out = append(out, h.controllers...)
	}
	sort.Strings(out)
	return out
}

// String describes the Manager for a log line.
func (m *Manager) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cgroup v%d", m.version)
	for _, h := range m.hiers {
		cs := strings.Join(h.controllers, ",")
		if cs == "" {
			cs = "(no controller)"
		}
		fmt.Fprintf(&b, " %s=%s", cs, h.base)
	}
	return b.String()
}

// Warnings are what the executor should log about this Manager: where enforcement
// works but has a cost the host imposes.
func (m *Manager) Warnings() []string { return m.warnings }

// Unenforced says which of the limits this Manager cannot enforce, and why: one line
// each, for the pod's event and condition. None: all are enforced.
func (m *Manager) Unenforced(l Limits) []string {
	var out []string
	check := func(set bool, c, what string) {
		if set && !m.has(c) {
			out = append(out, fmt.Sprintf("%s not enforced: no %s controller (%s)", what, c, m.unusable[c]))
		}
	}
	check(l.MemoryBytes > 0, "memory", "memory limit")
	check(l.CPUMilli > 0, "cpu", "cpu limit")
	check(l.CPUSharesMilli > 0, "cpu", "cpu request")
	check(l.Pids > 0, "pids", "pids limit")
	return out
}

func (m *Manager) has(c string) bool { return m.hierarchyOf(c) >= 0 }

// hierarchyOf is the index of the hierarchy that enforces controller c, or -1.
func (m *Manager) hierarchyOf(c string) int {
	for i, h := range m.hiers {
		if contains(h.controllers, c) {
			return i
		}
	}
	return -1
}

func (m *Manager) hierarchyAt(base string) int {
	for i, h := range m.hiers {
		if h.base == base {
			return i
		}
	}
	return -1
}

// Cgroup is one cgroup, a pod's or a container's, in every hierarchy in use.
type Cgroup struct {
	m    *Manager
	dirs []string // one per m.hiers, in order
}

// Pod is a pod's cgroup.
type Pod struct {
	Cgroup
	uid string
}

const (
	podPrefix       = "pod"
	containerPrefix = "ctr-"
)

func (m *Manager) cgroup(rel ...string) Cgroup {
	c := Cgroup{m: m}
	for _, h := range m.hiers {
		c.dirs = append(c.dirs, filepath.Join(append([]string{h.base}, rel...)...))
	}
	return c
}

// NewPod makes the cgroup of pod uid with the pod's limits (PodLimits), or takes it
// again with them if it is there (an executor that restarts); on v2 it gives its
// containers the pod's controllers.
func (m *Manager) NewPod(uid string, l Limits) (*Pod, error) {
	if err := checkName(uid); err != nil {
		return nil, fmt.Errorf("pod uid: %w", err)
	}
	p := &Pod{Cgroup: m.cgroup(podPrefix + uid), uid: uid}
	fresh := !exists(p.dirs[0])
	err := p.create(l, false)
	if err == nil && m.version == V2 {
		for i, h := range m.hiers {
			if on := enable(p.dirs[i], h.controllers); len(on) != len(h.controllers) {
				err = fmt.Errorf("%s gives its children %v of %v", p.dirs[i], on, h.controllers)
			}
		}
	}
	if err != nil {
		if fresh { // never kill what ran in a cgroup taken again
			_ = p.Remove()
		}
		return nil, err
	}
	return p, nil
}

// UID is the pod's.
func (p *Pod) UID() string { return p.uid }

// Container makes the cgroup of the pod's container name with its limits
// (ContainerLimits), or takes it again with them: a container that restarts may keep
// its cgroup (take its OOM counts before it starts again) or Remove it first.
func (p *Pod) Container(name string, l Limits) (*Cgroup, error) {
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("container name: %w", err)
	}
	c := p.m.cgroup(podPrefix+p.uid, containerPrefix+name)
	fresh := !exists(c.dirs[0])
	if err := c.create(l, true); err != nil {
		if fresh {
			_ = c.Remove()
		}
		return nil, err
	}
	return &c, nil
}

// checkName refuses what would not make one directory: the runtime's names are a
// pod's UID and a container's name, which the executor has checked already.
func checkName(s string) error {
	if s == "" || s == "." || s == ".." || len(s) > 200 || strings.ContainsAny(s, "/\x00\n") {
		return fmt.Errorf("%q cannot name a cgroup", s)
	}
	return nil
}

// create makes the cgroup in each hierarchy and writes the limits of the controllers
// in use; those of a controller not in use are left (Unenforced says so).
func (c *Cgroup) create(l Limits, container bool) error {
	for _, d := range c.dirs {
		if err := mkdir(d); err != nil {
			return err
		}
	}
	for _, s := range settings(c.m.version, l, container) {
		i := c.m.hierarchyOf(s.controller)
		if i < 0 {
			continue
		}
		err := write(filepath.Join(c.dirs[i], s.file), s.value)
		if err != nil && (!s.optional || !errors.Is(err, os.ErrNotExist)) {
			return err
		}
	}
	return nil
}

// Path is the cgroup's directory in its first hierarchy: on v2 its only one, which a
// process can be started in (os.Open it for SysProcAttr.CgroupFD, UseCgroupFD).
func (c *Cgroup) Path() string { return c.dirs[0] }

// ProcsFiles are the cgroup.procs files a process writes its pid to, each, to join
// the cgroup (JoinSelf): a helper that joins before it execs the container's command
// leaves no instant in which the command runs, or forks, outside.
func (c *Cgroup) ProcsFiles() []string {
	out := make([]string, len(c.dirs))
	for i, d := range c.dirs {
		out[i] = filepath.Join(d, "cgroup.procs")
	}
	return out
}

// Join moves process pid, all its threads, into the cgroup in every hierarchy. Its
// children from before stay where they are.
func (c *Cgroup) Join(pid int) error {
	for _, f := range c.ProcsFiles() {
		if err := write(f, strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// JoinSelf moves the calling process into the cgroups whose cgroup.procs files are
// given (ProcsFiles). It must run while the process may still write there: before it
// gives up root.
func JoinSelf(procsFiles []string) error {
	pid := strconv.Itoa(os.Getpid())
	for _, f := range procsFiles {
		if err := write(f, pid); err != nil {
			return err
		}
	}
	return nil
}

// Pids are the processes in the cgroup and below it.
func (c *Cgroup) Pids() ([]int, error) {
	files, err := procsFilesBelow(c.dirs[:1])
	if err != nil {
		return nil, err
	}
	var out []int
	for _, f := range files {
		pids, err := readPids(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		out = append(out, pids...)
	}
	return out, nil
}

// Sweep removes the cgroups of the pods keep does not want, killing what runs in
// them: those an executor that ended left. It returns the UIDs removed. Where the
// executor's own cgroup is shared (an agent without cgroups isolation: the agent's
// own), other executors' pods hang there too, and keep must answer for them.
func (m *Manager) Sweep(keep func(uid string) bool) ([]string, error) {
	uids := map[string]bool{}
	for _, h := range m.hiers {
		entries, err := os.ReadDir(h.base)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		for _, e := range entries {
			if uid, ok := strings.CutPrefix(e.Name(), podPrefix); ok && e.IsDir() && checkName(uid) == nil {
				uids[uid] = true
			}
		}
	}
	var removed []string
	var errs []error
	for uid := range uids {
		if keep(uid) {
			continue
		}
		p := Pod{Cgroup: m.cgroup(podPrefix + uid), uid: uid}
		if err := p.Remove(); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, uid)
	}
	sort.Strings(removed)
	return removed, errors.Join(errs...)
}
