package process

import (
	"errors"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/executor/process/cgroup"
)

// Resource limits, enforced.
//
// A pod's containers are held to their memory and CPU limits by cgroups, as on a node
// (package cgroup): a cgroup per pod below the executor's own, with the pod's limits
// (and the runtime's PodPidsLimit), and in it one per container with the container's.
// Each container process, and each exec probe, joins its container's cgroup in the
// helper, first, while still root, before it execs (helper_linux.go): nothing it runs
// starts outside. A container whose process ended after an OOM kill in its cgroup is
// Terminated with reason OOMKilled, as a kubelet reports it; its cgroup then goes,
// killing what escaped its process group, and a restart gets a fresh one. The pod's
// cgroup goes once the pod ended, before its end is reported.
//
// Where the agent's cgroups do not allow it (no usable hierarchy, a controller
// missing, a cgroup that cannot be made), the pod still runs, and is told: its
// condition ConditionResourceLimitsEnforced is False with reason CgroupsUnavailable
// or ControllerMissing and a message saying which limits are not enforced and why
// (the manager turns it into a ResourceLimitsNotEnforced Warning event). The
// condition is shown on pods that have something for cgroups to enforce: a memory or
// CPU limit, a CPU request, or the runtime's pids limit; True while all of it is.

// ConditionResourceLimitsEnforced is the pod condition that says whether the process
// runtime enforces the pod's resource limits. The manager copies it to the Pod
// (podtask.ConditionResourceLimitsEnforced, the same type).
const ConditionResourceLimitsEnforced corev1.PodConditionType = "mesos.k8sm.io/ResourceLimitsEnforced"

// Reasons of ConditionResourceLimitsEnforced, and of a container's end.
const (
	// ReasonCgroupsUnavailable: the executor has no cgroups to enforce limits with,
	// or could not make the pod's or a container's.
	ReasonCgroupsUnavailable = "CgroupsUnavailable"
	// ReasonControllerMissing: the pod's cgroups are there, but lack a controller
	// one of its limits needs.
	ReasonControllerMissing = "ControllerMissing"
	// ReasonLimitsEnforced: every limit of the pod is enforced.
	ReasonLimitsEnforced = "CgroupsEnforced"
	// ReasonOOMKilled is a container's terminated reason after the kernel's OOM
	// killer killed a process of it, as the kubelet says it.
	ReasonOOMKilled = "OOMKilled"
)

// cgroupsOf is a runtime's cgroup manager, found once.
type cgroupsOf struct {
	once sync.Once
	m    *cgroup.Manager
	err  error
}

// cgroups is the runtime's cgroup manager, or why it has none: cgroup.Detect (or
// r.detect) the first time it is needed, logged once.
func (r *Runtime) cgroups() (*cgroup.Manager, error) {
	r.cg.once.Do(func() {
		detect := r.detect
		if detect == nil {
			detect = cgroup.Detect
		}
		r.cg.m, r.cg.err = detect()
		if r.cg.err != nil {
			r.Log.Info("No cgroups to enforce pods' resource limits with: pods run without, and those with limits are told so", "error", r.cg.err.Error())
			return
		}
		r.Log.Info("Enforcing pods' resource limits with cgroups", "cgroups", r.cg.m.String())
		for _, w := range r.cg.m.Warnings() {
			r.Log.Info("Cgroups warning", "warning", w)
		}
	})
	return r.cg.m, r.cg.err
}

// podLimits is a pod's cgroup and what the pod is told of its limits. Its fields
// change under the pod's lock.
type podLimits struct {
	m   *cgroup.Manager // nil: no cgroups
	uid string
	lim cgroup.Limits
	// declared: the pod has something for cgroups to enforce, and shows the condition.
	declared bool
	// reason and lines say why not everything is enforced; reason "" when it is.
	reason string
	lines  []string
	// pc is the pod's cgroup once made; held says this pod has the cgroup of its UID
	// to itself (holdCgroup), release gives it up.
	pc      *cgroup.Pod
	held    bool
	release func()
	// marker names the pod's cgroup in the run's sandbox, for a later executor's Sweep.
	marker string
}

// limitsFor is what the runtime can enforce of a pod's limits: the pod's own
// (PodLimits, with the runtime's pids limit) and each container's.
func (r *Runtime) limitsFor(p *corev1.Pod) *podLimits {
	pl := &podLimits{uid: string(p.UID), lim: cgroup.PodLimits(p, r.PodPidsLimit)}
	all := []cgroup.Limits{pl.lim}
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range cs {
			all = append(all, cgroup.ContainerLimits(&cs[i]))
		}
	}
	for _, l := range all {
		pl.declared = pl.declared || l != cgroup.Limits{}
	}
	m, err := r.cgroups()
	if err == nil && pl.uid == "" { // DecodePod refuses such pods; runtime tests make them
		err = errors.New("the pod has no UID to name its cgroup")
	}
	if err != nil {
		pl.unenforced(ReasonCgroupsUnavailable, "no limit is enforced: "+err.Error())
		return pl
	}
	pl.m = m
	for _, l := range all {
		for _, line := range m.Unenforced(l) {
			pl.unenforced(ReasonControllerMissing, line)
		}
	}
	if r.Sandbox != "" {
		pl.marker = cgroupMarker(r.Sandbox, pl.uid)
	}
	return pl
}

// unenforced records a limit not enforced, and why; the first reason stays, unless a
// cgroup that could not be made says more than a controller missing.
func (pl *podLimits) unenforced(reason, line string) {
	if pl.reason == "" || reason == ReasonCgroupsUnavailable {
		pl.reason = reason
	}
	if !slices.Contains(pl.lines, line) {
		pl.lines = append(pl.lines, line)
	}
}

// condition is the pod's ConditionResourceLimitsEnforced; false for a pod that has
// nothing to enforce.
func (pl *podLimits) condition() (corev1.PodCondition, bool) {
	if !pl.declared {
		return corev1.PodCondition{}, false
	}
	if pl.reason == "" {
		return corev1.PodCondition{Type: ConditionResourceLimitsEnforced, Status: corev1.ConditionTrue, Reason: ReasonLimitsEnforced}, true
	}
	return corev1.PodCondition{Type: ConditionResourceLimitsEnforced, Status: corev1.ConditionFalse,
		Reason: pl.reason, Message: strings.Join(pl.lines, "; ")}, true
}

// heldCgroups are the pod cgroups in use in this process, by path and UID, each with what is
// closed once its pod gives it up: two pods of one UID (one ending as the next starts,
// the same pod launched again) never share a cgroup, where one's end would kill the
// other's processes.
var heldCgroups = struct {
	sync.Mutex
	by map[string]chan struct{}
}{by: map[string]chan struct{}{}}

// holdCgroup waits until no other pod of this process holds the cgroup of the pod's
// UID, and holds it; false when the pod is killed first.
func (pl *podLimits) holdCgroup(kill <-chan struct{}) bool {
	key := pl.m.String() + "\x00" + pl.uid
	for {
		heldCgroups.Lock()
		gone, busy := heldCgroups.by[key]
		if !busy {
			mine := make(chan struct{})
			heldCgroups.by[key] = mine
			heldCgroups.Unlock()
			pl.held = true
			pl.release = func() {
				heldCgroups.Lock()
				delete(heldCgroups.by, key)
				heldCgroups.Unlock()
				close(mine)
			}
			return true
		}
		heldCgroups.Unlock()
		select {
		case <-gone:
		case <-kill:
			return false
		}
	}
}
