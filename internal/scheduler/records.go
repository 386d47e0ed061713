package scheduler

import (
	"context"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// A task's MesosTask is first written with the task's first update written, state and
// all: usually its TASK_RUNNING. A custom resource's create is the API server's most
// expensive request of a pod's (JSON, schema, validation: docs/performance.md), and in
// a burst the API server's CPU is what every pod waits for. So a worker with a backlog
// of updates writes a RUNNING's pod status at once, acknowledges the update, and defers
// the MesosTask's create: it is written once the worker has been idle for RecordIdle,
// and at the latest RecordMost after the update. A burst's pods are Running before their
// MesosTasks are written, at the cost of the MesosTasks trailing them; a worker without
// a backlog writes the MesosTask first, as always.
//
// Only pods whose names were generated (a ReplicaSet's, a Job's, a DaemonSet's) have it
// deferred: a pod made again under its name (a StatefulSet's, force-deleted) waits for
// the MesosTask of the one before, which a deferred create would leave missing, and the
// new pod's task could start beside the old one's.
//
// Nothing is lost if the manager stops before it writes them: the task is remembered as
// launched without a MesosTask (launches), so an update of it finds its pod, and the
// reconciliation after the next subscription asks Mesos for its state, whose answer
// creates the MesosTask. The task's next update is written on top of a deferred one, in
// one write (takeUnwritten), as on top of a held-back STARTING.
const (
	// DefaultRecordIdle is how long a worker must have had nothing to do before it
	// writes the MesosTasks it deferred.
	DefaultRecordIdle = time.Second
	// RecordMost is the longest a MesosTask's create is deferred.
	RecordMost = 30 * time.Second
)

// deferredRecord is the updates of a task whose MesosTask was not created yet (oldest
// first), all acknowledged, and when the first was.
type deferredRecord struct {
	statuses []mesos.TaskStatus
	since    time.Time
}

// mayDeferRecord says whether the worker may defer the MesosTask create of this update:
// an agent's TASK_RUNNING (acknowledged, never sent again), while more updates wait in
// the worker's queue (backlog), and the task's first: a second (a status change of the
// pod's, or a resend) writes the MesosTask on top of the first, so that none waits
// longer than RecordMost and none keeps a growing list of updates.
func (w *worker) mayDeferRecord(ts mesos.TaskStatus) bool {
	if w.idle <= 0 || w.backlog == 0 || ts.GetState() != mesos.TASK_RUNNING || len(ts.UUID) == 0 ||
		ts.GetReason() == mesos.REASON_RECONCILIATION {
		return false
	}
	_, deferred := w.records[ts.TaskID.Value]
	return !deferred
}

// deferRecord keeps the updates of a task whose pod was written and whose MesosTask was
// not.
func (w *worker) deferRecord(id string, statuses []mesos.TaskStatus, now time.Time) {
	if w.records == nil {
		w.records = map[string]deferredRecord{}
	}
	w.records[id] = deferredRecord{statuses: statuses, since: now}
}

// writeRecords writes the MesosTasks deferred: all of them once the worker has been idle
// for w.idle (until updates queue up again), and before that those deferred for
// RecordMost. One not written is written again later (writeAgain), as any acknowledged
// update.
func (w *worker) writeRecords(ctx context.Context, now time.Time) {
	idle := now.Sub(w.lastHandled) >= w.idle
	for id, r := range w.records {
		if idle && w.queued != nil && w.queued() > 0 {
			idle = false // a burst again: its pods go first
		}
		if !idle && now.Sub(r.since) < RecordMost {
			continue
		}
		delete(w.records, id)
		w.writeKept(ctx, id, r.statuses)
	}
}
