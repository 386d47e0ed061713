package executor

import (
	"context"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
)

// kill stops a task; an unknown task is reported killed at once. The first KILL of a
// running pod is reported TASK_KILLING when the framework takes it (startKilling). A
// task that ended and was forgotten (its terminal update acknowledged) gets nothing, as
// Mesos's default executor answers a KILL of a task it no longer runs: the agent routes
// KILLs to the executor until the framework acknowledged that update too, and a second
// terminal update could reach the framework after the first, and be resent with every
// subscription, never acknowledged.
func (e *Executor) kill(ctx context.Context, id string, grace time.Duration) {
	e.mu.Lock()
	t := e.tasks[id]
	ended := t == nil && e.endedLocked(id)
	e.mu.Unlock()
	if ended {
		e.Log.Info("Ignoring a KILL of a task that ended", "taskID", id)
		return
	}
	if t == nil {
		t = &task{info: mesos.TaskInfo{TaskID: mesos.TaskID{Value: id}}, done: make(chan struct{})}
		e.update(ctx, t, mesos.TASK_KILLED, nil, "Killed before it was launched", nil)
		return
	}
	t.mu.Lock()
	h := t.handle
	t.mu.Unlock()
	if h == nil {
		e.update(ctx, t, mesos.TASK_KILLED, nil, "Killed before it started", nil)
		return
	}
	e.startKilling(ctx, t)
	go h.Kill(grace)
}

// startKilling marks a task being killed, when the framework registered
// TASK_KILLING_STATE, and reports a running pod's task TASK_KILLING with the pod's last
// status, as Mesos's command and default executors do on the first KILL: the framework
// then knows the kill is under way (k8sm's MesosTask goes Killing and the pod's Ready
// False) and need not send it again. From then on its pod's statuses are reported
// TASK_KILLING until it ends, never RUNNING or STARTING again (reportedState); a pod
// still starting gets no TASK_KILLING until it runs, which would have it taken for
// running.
func (e *Executor) startKilling(ctx context.Context, t *task) {
	e.mu.Lock()
	takes := e.killingState
	e.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !takes || t.killing || t.terminal {
		return
	}
	t.killing = true
	if t.state != mesos.TASK_RUNNING || t.pod == nil {
		return
	}
	status := *t.pod.Status.DeepCopy()
	e.updateLocked(ctx, t, mesos.TASK_KILLING, &status, "", nil)
}

// reportedState is the state of the update a runtime's report makes. A pod being killed
// that runs, or ran, stays TASK_KILLING until it ends, whatever its containers say as
// they stop (a stopped container may make it Pending again).
func reportedState(t *task, r Report) mesos.TaskState {
	ran := r.Status.Phase == corev1.PodRunning || t.state == mesos.TASK_RUNNING || t.state == mesos.TASK_KILLING
	switch {
	case r.Killed:
		return mesos.TASK_KILLED
	case r.Status.Phase == corev1.PodSucceeded:
		return mesos.TASK_FINISHED
	case r.Status.Phase == corev1.PodFailed:
		return mesos.TASK_FAILED
	case t.killing && ran:
		return mesos.TASK_KILLING
	case r.Status.Phase == corev1.PodRunning:
		return mesos.TASK_RUNNING
	}
	return mesos.TASK_STARTING
}

// takesKilling says whether a framework registered TASK_KILLING_STATE.
func takesKilling(fw mesos.FrameworkInfo) bool {
	for _, c := range fw.Capabilities {
		if c.Type == mesos.FrameworkInfo_Capability_TASK_KILLING_STATE {
			return true
		}
	}
	return false
}

// killAll stops every task, giving each grace, and waits for their terminal updates
// until by. When it may still reach the agent (announce: SHUTDOWN, or the executor
// stopped), a running pod's task is first reported TASK_KILLING on ctx, as Mesos's
// default executor reports it when it shuts down; not when the agent is gone.
func (e *Executor) killAll(ctx context.Context, announce bool, grace time.Duration, by time.Time) {
	e.mu.Lock()
	var all []*task
	for _, t := range e.tasks {
		all = append(all, t)
	}
	e.mu.Unlock()
	for _, t := range all {
		t.mu.Lock()
		h := t.handle
		t.mu.Unlock()
		if h != nil {
			if announce {
				e.startKilling(ctx, t)
			}
			go h.Kill(min(grace, killGrace(t, grace)))
		}
	}
	deadline := time.NewTimer(time.Until(by))
	defer deadline.Stop()
	for _, t := range all {
		select {
		case <-t.done:
		case <-deadline.C:
			return
		}
	}
}

// killGrace is the grace a task's own kill policy gives it (its pod's
// terminationGracePeriodSeconds, from k8sm), else otherwise: a SHUTDOWN gives no pod more
// than its own grace, as a kubelet stopping a pod would not.
func killGrace(t *task, otherwise time.Duration) time.Duration {
	if g := t.info.KillPolicy.GetGracePeriod(); g != nil {
		return time.Duration(g.GetNanoseconds())
	}
	return otherwise
}
