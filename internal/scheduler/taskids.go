package scheduler

import (
	"context"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/k8sm/k8sm/internal/podtask"
)

// Task ids Mesos may still hold. A pod's task id is the pod's for good
// (podtask.TaskIDFor), so a pod whose task Mesos never ran (TASK_DROPPED, TASK_GONE…) is
// launched again under the same id. Mesos refuses a launch under an id it holds
// (TASK_ERROR, "Task has duplicate ID"), and it holds a task until its terminal update is
// acknowledged (src/master/master.cpp Master::acknowledge): the update that sends a pod
// back to the queue must be acknowledged before the pod's task goes out again. Whoever
// queues the pod (the worker writing that update, or the MesosTask reconciler, which
// queues every MesosTask back to Pending as soon as it sees it) may be first, and an
// offer held for new work would take the pod at once. So while a worker writes and
// acknowledges a terminal update, the task's id is held here, and the pod, if queued,
// waits aside (deferred) until the acknowledgement went through.
//
// When the acknowledgement failed, Mesos sends the update again (its agent after 10 s at
// first, or at once after the next subscription), and its acknowledgement then lets the
// pod go; as the acknowledgement may also have arrived, its answer alone lost, the pod
// goes anyway after heldIDWait. A launch Mesos refused for an id it still holds
// (podtask.IDTaken: the acknowledgement was dropped, or its update resent after a
// failover, or the launch came first) waits as long at first, and longer at each refusal
// in a row (maxRefusedWaits): the pod goes back to Pending, not Failed, and is launched
// again once Mesos lets go of the id, usually when its update comes again and is
// acknowledged.

// heldIDWait is how long a pod waits to be launched again after the acknowledgement of
// its task's end failed, or Mesos refused a launch for an id it still holds: a little over
// the 10 s after which an agent first sends an unacknowledged update again.
const heldIDWait = 15 * time.Second

// Mesos may keep refusing a task's id for long: the task holding it is on an agent that
// is disconnected, and its end comes when the agent is back, or is marked unreachable
// (src/master/master.cpp: the task stays in Framework::tasks meanwhile). Each refusal in
// a row doubles the wait before the next launch, from heldIDWait up to
// maxRefusedWaits times that (5 minutes): each launch costs a MesosTask write, an ACCEPT,
// and the write of its refusal. Any other update of the task starts again from the first
// wait, and the launches after a refusal are told once (refusal.told).
const maxRefusedWaits = 20

// refusalMemory is how long a task's refusals are remembered without another.
const refusalMemory = 2 * maxRefusedWaits * heldIDWait

// refusal is what is known of the refusals in a row of a task's launches.
type refusal struct {
	n    int
	last time.Time
	// told: a launch after a refusal was told (its Launched event).
	told bool
}

// noteRefusal records a refusal of a task's launch for an id Mesos holds, and returns
// how long the task waits before it is launched again.
func (s *Scheduler) noteRefusal(taskID string) time.Duration {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, r := range s.refusals {
		if now.Sub(r.last) > refusalMemory {
			delete(s.refusals, id)
		}
	}
	r := s.refusals[taskID]
	if r == nil {
		r = &refusal{}
		s.refusals[taskID] = r
	}
	r.n++
	r.last = now
	wait := s.heldIDWait << min(r.n-1, 8)
	return min(wait, maxRefusedWaits*s.heldIDWait)
}

// forgetRefusals forgets the refusals of a task's launches: Mesos reported on it
// otherwise.
func (s *Scheduler) forgetRefusals(taskID string) {
	s.mu.Lock()
	delete(s.refusals, taskID)
	s.mu.Unlock()
}

// tellRelaunch says whether to tell of a launch of a task: not when a launch after a
// refusal of its id was told already, and Mesos has said nothing else of it since.
func (s *Scheduler) tellRelaunch(taskID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.refusals[taskID]
	if r == nil {
		return true
	}
	told := r.told
	r.told = true
	return !told
}

// idHold is a task id Mesos may still hold.
type idHold struct {
	// timer ends the hold; nil while a worker handles the task's terminal update.
	timer *time.Timer
	// until is when timer ends it.
	until time.Time
}

// holdsID says whether Mesos holds a task's id until an update is acknowledged: an
// agent's terminal update (it has a uuid).
func holdsID(ts mesos.TaskStatus) bool {
	return len(ts.UUID) > 0 && podtask.IsTerminal(ts.GetState())
}

// holdID holds a task's id while its update is written and acknowledged: the task, if
// queued, waits aside until releaseID.
func (s *Scheduler) holdID(taskID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.holds[taskID]; h != nil && h.timer != nil {
		h.timer.Stop()
	}
	s.holds[taskID] = &idHold{} // a new one: a timer that fired meanwhile finds its hold gone
	if p, ok := s.pending[taskID]; ok {
		delete(s.pending, taskID)
		s.deferred[taskID] = p
	}
}

// releaseID ends the hold of a task's id after wait (at once for 0), and queues the task
// if it waited for it.
func (s *Scheduler) releaseID(ctx context.Context, taskID string, wait time.Duration) {
	s.mu.Lock()
	h := s.holds[taskID]
	if h == nil {
		s.mu.Unlock()
		return
	}
	if wait > 0 {
		if h.timer != nil {
			h.timer.Stop()
		}
		h.timer, h.until = time.AfterFunc(wait, func() { s.endHold(ctx, taskID, h) }), time.Now().Add(wait)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.endHold(ctx, taskID, h)
}

// endHold ends hold h of a task's id, unless another replaced it, and queues the task if
// it waited for it.
func (s *Scheduler) endHold(ctx context.Context, taskID string, h *idHold) {
	s.mu.Lock()
	if s.holds[taskID] != h {
		s.mu.Unlock()
		return
	}
	delete(s.holds, taskID)
	p, waited := s.deferred[taskID]
	if !waited || s.nameHeldLocked(p) {
		// Not queued; or its name waits still (namehold.go), and it with it.
		s.mu.Unlock()
		return
	}
	delete(s.deferred, taskID)
	w := s.queueLocked(p, false)
	s.mu.Unlock()
	if ctx.Err() == nil {
		s.wakeFor(ctx, w)
	}
}
