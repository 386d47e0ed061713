package scheduler

import (
	"context"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// First and longest waits before an update Mesos will not send again is written again.
const (
	retryFirst = time.Second
	retryMost  = 30 * time.Second
)

// retryWrite is what a worker writes again: updates of one task that Mesos will not send
// again and that are not written, oldest first, and when to try next.
type retryWrite struct {
	statuses []mesos.TaskStatus
	due      time.Time
	wait     time.Duration
}

// writeAgain keeps, after a failed write, a task's updates that Mesos will not send
// again (oldest first), to write them again after a while: the master's (no uuid: they
// need no acknowledgement, and the master sends none twice) and those acknowledged
// already. Lost, a master's TASK_GONE, or its TASK_RUNNING after an agent came back, left
// the MesosTask or the pod as they were until someone deleted the pod. An agent's update
// not acknowledged yet is not kept: its agent sends it again.
func (w *worker) writeAgain(id string, keep []mesos.TaskStatus, err error) {
	if len(keep) == 0 {
		w.s.Log.Info("Could not persist a status update; Mesos sends it again", "task", id, "error", err.Error())
		return
	}
	wait, log := retryFirst, w.s.Log
	if r, ok := w.retrying[id]; ok {
		wait, log = min(2*r.wait, retryMost), log.V(1) // said once is enough
	}
	log.Info("Could not persist a status update Mesos will not send again; writing it again", "task", id,
		"state", keep[len(keep)-1].GetState().String(), "after", wait, "error", err.Error())
	if w.retrying == nil {
		w.retrying = map[string]retryWrite{}
	}
	w.retrying[id] = retryWrite{statuses: keep, due: time.Now().Add(wait), wait: wait}
}

// takeUnwritten takes out the updates of a task not written yet: one to write again, a
// STARTING held back, or those of a MesosTask whose create is deferred (records.go). The task's next update is written on top of them, in one write:
// so a task that started is never taken for one Mesos never ran (a TASK_GONE after a
// STARTING not written yet would launch it again).
func (w *worker) takeUnwritten(id string) []mesos.TaskStatus {
	var earlier []mesos.TaskStatus
	if r, ok := w.retrying[id]; ok {
		earlier = append(earlier, r.statuses...)
		delete(w.retrying, id)
	}
	if h, ok := w.starting[id]; ok && !h.answer { // an answer waits for the agent's end
		if !h.launch {
			earlier = append(earlier, h.status)
		}
		delete(w.starting, id)
	}
	if r, ok := w.records[id]; ok {
		earlier = append(earlier, r.statuses(id)...)
		delete(w.records, id)
	}
	return earlier
}

// retryDue writes again the updates that are due.
func (w *worker) retryDue(ctx context.Context, now time.Time) {
	for id, r := range w.retrying {
		if now.Before(r.due) {
			continue
		}
		if !w.writeKept(ctx, id, r.statuses) {
			continue
		}
		delete(w.retrying, id)
		w.s.answered(id)
	}
}

// writeKept writes a task's updates that Mesos will not send again, oldest first, in one
// write; one not written is kept to be written again (writeAgain). It says whether they
// were written.
func (w *worker) writeKept(ctx context.Context, id string, statuses []mesos.TaskStatus) bool {
	last := len(statuses) - 1
	if err := w.s.persist(ctx, statuses[last], statuses[:last]...); err != nil {
		w.writeAgain(id, statuses, err)
		return false
	}
	return true
}
