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
// the MesosTask's create. It is written once the worker has been idle for RecordIdle;
// once it has waited RecordMost, at the first moment the worker has no update queued;
// and, queued updates or not, once it has waited RecordLongest. A burst's pods are
// Running before their MesosTasks are written, at the cost of the MesosTasks trailing
// them (for as long as the burst keeps the worker behind, up to RecordLongest); a worker
// without a backlog writes the MesosTask first, as always.
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
//
// A deferred update is kept without its data (the executor's pod status) and its
// container status (container id, executor pid, IP addresses: nothing reads them, the
// pod's IPs come from the data): the pod's status was written from it already, and the
// MesosTask does not hold it. Written later, the update leaves the pod's status as it is
// (podtask.PodStatusFor starts from it, and takes the pod's readiness from its
// containers' and native sidecars' as the executor did), and a burst of 10,000 creates
// held does not hold 10,000 pod statuses.
const (
	// DefaultRecordIdle is how long a worker must have had nothing to do before it
	// writes the MesosTasks it deferred.
	DefaultRecordIdle = time.Second
	// RecordMost is how long a MesosTask's create is deferred while its worker keeps up
	// with its updates (while none is queued).
	RecordMost = 30 * time.Second
	// RecordLongest is the longest a MesosTask's create is deferred, however long a
	// burst keeps its worker behind.
	RecordLongest = 5 * time.Minute
)

// deferredRecord is the updates of a task whose MesosTask was not created yet (oldest
// first), all acknowledged, and when the first was.
type deferredRecord struct {
	kept  []keptStatus
	since time.Time
}

// statuses are the record's updates, of the task id, oldest first.
func (r deferredRecord) statuses(id string) []mesos.TaskStatus {
	out := make([]mesos.TaskStatus, len(r.kept))
	for i := range r.kept {
		out[i] = r.kept[i].status(id)
	}
	return out
}

// mayDeferRecord says whether the worker may defer the MesosTask create of this update:
// an agent's TASK_RUNNING (acknowledged, never sent again), while more updates wait in
// the worker's queue (backlog), and the task's first: a second (a status change of the
// pod's, or a resend) writes the MesosTask on top of the first, so that none waits
// longer than RecordLongest and none keeps a growing list of updates.
func (w *worker) mayDeferRecord(ts mesos.TaskStatus) bool {
	if w.idle <= 0 || w.backlog == 0 || ts.GetState() != mesos.TASK_RUNNING || len(ts.UUID) == 0 ||
		ts.GetReason() == mesos.REASON_RECONCILIATION {
		return false
	}
	_, deferred := w.records[ts.TaskID.Value]
	return !deferred
}

// deferRecord keeps the updates of a task whose pod was written and whose MesosTask was
// not, without their data (the pod status written from it) and their container status
// (nothing reads it: its container, executor pid and IP addresses; the pod's IPs come
// from the executor's pod status, the data), and as keptStatus.
func (w *worker) deferRecord(id string, statuses []mesos.TaskStatus, now time.Time) {
	if w.records == nil {
		w.records = map[string]deferredRecord{}
	}
	w.records[id] = deferredRecord{kept: keepStatuses(statuses), since: now}
}

// writeRecords writes the MesosTasks deferred that are due: all of them once the worker
// has been idle for w.idle, those deferred for RecordMost while no update is queued, and
// those deferred for RecordLongest at any time. A burst again (updates queued) stops the
// first two: its pods go first. One not written is written again later (writeAgain), as
// any acknowledged update.
func (w *worker) writeRecords(ctx context.Context, now time.Time) {
	if len(w.records) == 0 {
		return
	}
	idle := now.Sub(w.lastHandled) >= w.idle
	for id, r := range w.records {
		queued := w.queued != nil && w.queued() > 0
		if !recordDue(now.Sub(r.since), idle && !queued, queued) {
			continue
		}
		delete(w.records, id)
		w.writeKept(ctx, id, r.statuses(id))
	}
}

// recordDue says whether a MesosTask create deferred for age is due, when its worker is
// idle, or has updates queued.
func recordDue(age time.Duration, idle, queued bool) bool {
	return idle || !queued && age >= RecordMost || age >= RecordLongest
}
