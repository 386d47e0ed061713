package process

import (
	"os"
	"path/filepath"

	"github.com/k8sm/k8sm/executor/process/cgroup"
)

// cgroupsDir is where, under the executor's sandbox, a run names the pods whose
// cgroups it made (a file per pod UID), until it removed them: what a later executor's
// Sweep may remove once this run ended. Records (orphans.go) do not do: they go with
// each container's process, and the watchdog clears them.
const cgroupsDir = ".k8sm-cgroups"

func cgroupMarker(sandbox, uid string) string { return filepath.Join(sandbox, cgroupsDir, uid) }

// Cgroups is the runtime's cgroup manager, or why it has none: found, and logged, the
// first time it is needed. A program calls it as it starts to log it then.
func (r *Runtime) Cgroups() (*cgroup.Manager, error) { return r.cgroups() }

// makePodCgroup makes the pod's cgroup with its limits, once no other pod of its UID
// has it (holdCgroup): a pod killed while it waits makes none.
func (p *pod) makePodCgroup() {
	if p.limits.m == nil || !p.limits.holdCgroup(p.kill) {
		return
	}
	p.ensurePodCgroup()
}

// ensurePodCgroup makes the pod's cgroup, or takes it again with its limits written
// again: before each container start, in case it went (removed by hand, or by the
// Sweep of an executor that shares the pods' parent cgroup and knew nothing of it).
// Nil when it cannot be made: the pod is told.
func (p *pod) ensurePodCgroup() *cgroup.Pod {
	pl := p.limits
	pc, err := pl.m.NewPod(pl.uid, pl.lim)
	if err != nil {
		p.cgroupFailed("the pod's cgroup", err)
		return nil
	}
	p.mu.Lock()
	first := pl.pc == nil
	pl.pc = pc
	p.mu.Unlock()
	if first && pl.marker != "" {
		err := os.MkdirAll(filepath.Dir(pl.marker), 0o755)
		if err == nil {
			err = os.WriteFile(pl.marker, nil, 0o644)
		}
		if err != nil {
			p.rt.Log.Info("Cannot note the pod's cgroup in the sandbox; a later executor will not remove it if this one dies", "pod", p.name(), "error", err.Error())
		}
	}
	return pc
}

// cgroupFailed tells the pod (a pod with limits, through its condition) and the log
// that a cgroup of it could not be made: its containers run without.
func (p *pod) cgroupFailed(what string, err error) {
	line := what + " cannot be made, and its limits are not enforced: " + err.Error()
	p.mu.Lock()
	n := len(p.limits.lines)
	p.limits.unenforced(ReasonCgroupsUnavailable, line)
	changed := len(p.limits.lines) != n
	p.mu.Unlock()
	if !changed {
		return
	}
	p.rt.Log.Info("Running a pod's containers without their cgroup", "pod", p.name(), "cgroup", what, "error", err.Error())
	p.send("")
}

func (p *pod) name() string { return p.pod.Namespace + "/" + p.pod.Name }

// ctrCgroup is the cgroup of one run of a container, with its OOM counts from before
// the run (nil when they could not be read: no memory controller).
type ctrCgroup struct {
	cg     *cgroup.Cgroup
	before *cgroup.OOM
}

// procsFiles are the files the helper writes its pid to, to join the cgroup; none
// without one.
func (cc *ctrCgroup) procsFiles() []string {
	if cc == nil {
		return nil
	}
	return cc.cg.ProcsFiles()
}

// containerCgroup makes the cgroup of a run of container c with its limits, in its
// pod's cgroup made again (ensurePodCgroup), and takes its OOM counts. Nil where there
// is none: no cgroups, or one that cannot be made (the pod is told).
func (p *pod) containerCgroup(c *container) *ctrCgroup {
	if p.limits.m == nil || !p.limits.held {
		return nil
	}
	pc := p.ensurePodCgroup()
	if pc == nil {
		return nil
	}
	cg, err := pc.Container(c.spec.Name, cgroup.ContainerLimits(&c.spec))
	if err != nil {
		p.cgroupFailed("container "+c.spec.Name+"'s cgroup", err)
		return nil
	}
	cc := &ctrCgroup{cg: cg}
	if before, err := cg.OOM(); err == nil {
		cc.before = &before
	}
	return cc
}

// endCgroup says whether the run of a container that exited with code was OOM-killed,
// from its cgroup's counts, and removes its cgroup, killing what is left in it:
// children that left the container's process group. The next run gets a fresh one.
func (p *pod) endCgroup(cc *ctrCgroup, code int32) (oomKilled bool) {
	if cc == nil {
		return false
	}
	if after, err := cc.cg.OOM(); err == nil && cc.before != nil {
		oomKilled = cgroup.OOMKilled(*cc.before, after, code)
	}
	if err := cc.cg.Remove(); err != nil {
		p.rt.Log.Info("Cannot remove a container's cgroup", "pod", p.name(), "cgroup", cc.cg.Path(), "error", err.Error())
	}
	return oomKilled
}

// removePodCgroup removes the pod's cgroup once its containers are done, killing what
// is left in it, and gives it up to the next pod of its UID. Called once, as the pod
// ends, before its end is reported.
func (p *pod) removePodCgroup() {
	pl := p.limits
	if !pl.held {
		return
	}
	defer pl.release()
	p.mu.Lock()
	pc := pl.pc
	p.mu.Unlock()
	if pc == nil {
		return
	}
	if err := pc.Remove(); err != nil {
		p.rt.Log.Info("Cannot remove a pod's cgroup", "pod", p.name(), "cgroup", pc.Path(), "error", err.Error())
		return // its marker stays, for the Sweep of a later executor
	}
	if pl.marker != "" {
		_ = os.Remove(pl.marker)
	}
}

// sweepCgroups removes, killing what runs in them, the cgroups of the pods that ended
// runs among runs made (their markers name them) and left; but not those a run that
// has not ended names too (the same pod launched again, where executors share the
// pods' parent cgroup). A cgroup nothing names is left alone: where the executor's own
// cgroup is shared (the agent's, without cgroups isolation), it may be another
// framework's executor's, or another agent's of a mesos-sim.
func (r *Runtime) sweepCgroups(runs []string, ended func(string) bool) {
	dead, live := map[string]bool{}, map[string]bool{}
	var markers []string
	for _, run := range runs {
		entries, _ := os.ReadDir(filepath.Join(run, cgroupsDir))
		if len(entries) == 0 {
			continue
		}
		isEnded := ended(run)
		for _, e := range entries {
			if isEnded {
				dead[e.Name()] = true
				markers = append(markers, filepath.Join(run, cgroupsDir, e.Name()))
			} else {
				live[e.Name()] = true
			}
		}
	}
	if len(dead) == 0 {
		return
	}
	m, err := r.cgroups()
	if err != nil {
		return
	}
	removed, err := m.Sweep(func(uid string) bool { return !dead[uid] || live[uid] })
	if err != nil {
		r.Log.Info("Cannot remove every cgroup ended executors left", "removed", removed, "error", err.Error())
		return // the markers stay, for the next executor
	}
	for _, f := range markers {
		_ = os.Remove(f)
	}
	if len(removed) > 0 {
		r.Log.Info("Removed the cgroups of pods ended executors left", "pods", removed)
	}
}

// removeRunCgroups removes the pod cgroups the executor run with that sandbox made
// (its markers name them), killing what is left in them, and the markers: in its
// watchdog, once the executor died, so that its pods' cgroups do not outlive it where
// the agent does not remove them (the POSIX launcher, mesos-sim). The watchdog was
// started from the executor's cgroups, and Detect finds the same pods' parent there.
func removeRunCgroups(sandbox string) error {
	dir := filepath.Join(sandbox, cgroupsDir)
	entries, _ := os.ReadDir(dir)
	if len(entries) == 0 {
		return nil
	}
	marked := map[string]bool{}
	for _, e := range entries {
		marked[e.Name()] = true
	}
	m, err := cgroup.Detect()
	if err != nil {
		return err
	}
	if _, err := m.Sweep(func(uid string) bool { return !marked[uid] }); err != nil {
		return err // the markers stay, for the next executor's Sweep
	}
	for _, e := range entries {
		_ = os.Remove(filepath.Join(dir, e.Name()))
	}
	return nil
}
