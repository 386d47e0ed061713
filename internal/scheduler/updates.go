package scheduler

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/k8sm/k8sm/internal/fifo"
	"github.com/k8sm/k8sm/internal/podtask"
)

// DefaultStartingGrace is how long an acknowledged TASK_STARTING waits to be written. Under
// load RUNNING trails STARTING by more than a second (the update workers are busy), and
// every STARTING written then is one more custom resource write per pod; five seconds
// covers that, and a task that takes longer to start still shows Starting.
const DefaultStartingGrace = 5 * time.Second

// statusUpdate is one Mesos update waiting to be persisted and acknowledged, or, with
// launched set, the news that a task was launched (status names the task).
type statusUpdate struct {
	status   mesos.TaskStatus
	ack      func(context.Context) error
	launched bool
	// received is when the update reached this process: what Mesos says in one says
	// nothing of a launch this process sent after it (persistUpdate).
	received time.Time
}

// startingUpdate is an acknowledged TASK_STARTING not yet written, (launch) a launch
// no update has written yet, or (answer) a reconciliation answer that the task ended,
// waiting for the agent's own update (holdAnswer).
type startingUpdate struct {
	status mesos.TaskStatus
	launch bool
	answer bool
	due    time.Time
}

// toWorker queues an update for the worker of its task, without waiting, unless the same
// update (its uuid) is queued already.
func (s *Scheduler) toWorker(u statusUpdate) {
	if !u.launched && !s.queued.add(u.status.UUID) {
		return
	}
	if u.received.IsZero() {
		u.received = time.Now()
	}
	s.updates[shardOf(u.status.TaskID.Value)].Push(u)
}

// queuedUpdates are the uuids of the agents' updates queued for the workers and not taken
// yet. An agent sends an update again until it is acknowledged (after 10 s, then twice as
// long each time), so behind a backlog a queue got each update several times, and each
// copy was persisted (to no change) and acknowledged: at 1,000 agents × 10,000 pods, 4.7
// acknowledgements per pod for its 2 updates. A copy of an update still queued is dropped:
// the acknowledgement of the one queued is the copy's too. Updates without a uuid (the
// master's, and reconciliation answers) are never dropped.
type queuedUpdates struct {
	mu    sync.Mutex
	uuids map[string]struct{}
}

// add records a queued update's uuid; false when it is queued already.
func (q *queuedUpdates) add(uuid []byte) bool {
	if len(uuid) == 0 {
		return true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, dup := q.uuids[string(uuid)]; dup {
		return false
	}
	q.uuids[string(uuid)] = struct{}{}
	return true
}

// taken forgets the uuid of an update a worker took: a copy that comes after it is
// queued (the update may not get acknowledged). An emptied set lets go of its room.
func (q *queuedUpdates) taken(uuid []byte) {
	if len(uuid) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.uuids, string(uuid))
	if len(q.uuids) == 0 {
		q.uuids = map[string]struct{}{}
	}
}

// launched tells the worker of a task that it was launched, so that the launch is
// written if no update comes soon. The news names the task and its agent alone: it may
// wait behind a burst's backlog of updates, and a pointer into t would keep all of the
// TaskInfo (the pod it carries for the executor, and the pod it was built from) as long.
func (s *Scheduler) launched(t *mesos.TaskInfo) {
	agentID := mesos.AgentID{Value: t.AgentID.Value}
	s.toWorker(statusUpdate{status: mesos.TaskStatus{TaskID: t.TaskID, AgentID: &agentID}, launched: true})
}

// shardOf is the worker of a task.
func shardOf(taskID string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(taskID))
	return h.Sum32() % updateShards
}

// updateLoop persists and acknowledges the updates of its shard's tasks, in order.
//
// Every update is written before it is acknowledged, but for one: a TASK_STARTING from
// the agent is acknowledged at once and written only if no other update of the task came
// within StartingGrace, and only once the worker has caught up with its queue. Usually
// RUNNING follows at once, and one write records both (a MesosTask write is the API
// server's most expensive request here). Nothing is lost when the manager stops in
// between: the task is still Staging in the API, so the reconciliation after the next
// subscription asks Mesos for its state.
//
// An update Mesos will not send again (the master's own, which need no
// acknowledgement, and a STARTING acknowledged already) is written again until it is
// written (retryWrite), and the next update of its task is written on top of it.
func (s *Scheduler) updateLoop(ctx context.Context, q *fifo.Queue[statusUpdate]) {
	w := worker{s: s, grace: s.StartingGrace, starting: map[string]startingUpdate{}, idle: s.RecordIdle, queued: q.Len}
	if w.grace == 0 {
		w.grace = DefaultStartingGrace
	}
	switch {
	case w.idle == 0:
		w.idle = DefaultRecordIdle
	case w.idle < 0:
		w.idle = 0
	}
	flush := time.NewTicker(max(w.grace/4, 10*time.Millisecond))
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.Ready():
			if u, ok := q.Pop(); ok {
				w.backlog = q.Len()
				w.handle(ctx, u)
			}
		case now := <-flush.C:
			w.flush(ctx, now, q.Len())
		}
	}
}

// worker is the state of one update loop: the writes it holds back, and those it writes
// again.
type worker struct {
	s        *Scheduler
	grace    time.Duration
	starting map[string]startingUpdate // by task id
	retrying map[string]retryWrite     // by task id
	// records are the tasks whose MesosTask create is deferred (records.go), by task
	// id; idle is how long the worker must have had nothing to do to write them (0:
	// none is deferred), and lastHandled when it last had something.
	records     map[string]deferredRecord
	idle        time.Duration
	lastHandled time.Time
	// backlog is how many updates waited in the worker's queue behind the one it handles,
	// queued how many wait now (nil: none).
	backlog int
	queued  func() int
}

// handle persists and acknowledges one update, or holds back a launch or a STARTING.
func (w *worker) handle(ctx context.Context, u statusUpdate) {
	s, id := w.s, u.status.TaskID.Value
	now := time.Now()
	mayDefer := w.mayDeferRecord(u.status)
	w.lastHandled = now
	if u.launched {
		// Written only if no update came first or within the grace: usually RUNNING
		// does, and its write records the launch too.
		if _, waiting := w.starting[id]; !waiting {
			if w.grace < 0 {
				s.recordLaunch(ctx, id)
			} else {
				w.starting[id] = startingUpdate{status: u.status, launch: true, due: time.Now().Add(w.grace)}
			}
		}
		return
	}
	if w.holdAnswer(u.status) {
		return
	}
	s.queued.taken(u.status.UUID)
	s.launchRejected(u.status)
	earlier := w.takeUnwritten(id)
	if w.grace > 0 && len(earlier) == 0 && deferrable(u.status) && !w.answerHeld(id) {
		if err := u.ack(ctx); err == nil {
			w.starting[id] = startingUpdate{status: u.status, due: time.Now().Add(w.grace)}
			s.answered(id)
			return
		}
	}
	// Mesos holds the task's id until a terminal update is acknowledged: a launch of the
	// pod again waits for that (taskids.go). A launch it refused for the id waits a while,
	// longer at each refusal in a row.
	held, refused := holdsID(u.status), podtask.IDTaken(u.status)
	wait := s.heldIDWait
	if refused {
		wait = s.noteRefusal(id)
	} else {
		s.forgetRefusals(id)
	}
	if held || refused {
		s.holdID(id)
	}
	deferred, err := s.persistUpdate(ctx, u.status, mayDefer, u.received, earlier...)
	if err != nil {
		if len(u.status.UUID) == 0 {
			earlier = append(earlier, u.status)
		}
		w.writeAgain(id, earlier, err)
		if held || refused {
			s.releaseID(ctx, id, wait)
		}
		return
	}
	s.answered(id)
	err = u.ack(ctx)
	if err != nil {
		s.Log.V(1).Info("Acknowledgement failed; Mesos sends the update again", "task", id, "error", err.Error())
	}
	switch {
	case deferred && err == nil:
		w.deferRecord(id, append(earlier, u.status), now)
	case deferred:
		// Not acknowledged, the update comes again, but the earlier ones Mesos will not
		// send again would be lost with the record: it is written now.
		if err := s.persist(ctx, u.status, earlier...); err != nil {
			w.writeAgain(id, earlier, err)
		}
	}
	switch {
	case refused || held && err != nil:
		s.releaseID(ctx, id, wait)
	case held:
		s.releaseID(ctx, id, 0)
	}
}

// holdAnswer holds back a reconciliation answer that a task ended (the master's, with
// no uuid, no data, reason REASON_RECONCILIATION) for as long as a STARTING, and says
// whether it did. Mesos answers so for a task whose end its agent reported and the
// framework has not acknowledged (a manager that failed over before it did), and the
// agent sends that update again as the framework subscribes, with the executor's data
// (the containers' exit codes) and its reason: written first, the answer would end the
// pod without them (exit 137, ContainerStatusUnknown, REASON_RECONCILIATION), and the
// agent's update, coming after a task's end, would change nothing. The agent's end
// drops the answer; an answer no update of the agent's follows is written when due.
//
// Where a STARTING or a launch is held back for the task, the answer is written on top
// of it as any update is (takeUnwritten), not held: one entry is held per task, and an
// acknowledged STARTING must not be dropped. Nor does a STARTING take the place of a held
// answer (it is written at once instead: handle).
func (w *worker) holdAnswer(ts mesos.TaskStatus) bool {
	id := ts.TaskID.Value
	held, ok := w.starting[id]
	holding := ok && held.answer
	switch {
	case w.grace <= 0, ok && !held.answer:
		return false
	case endedInAnswer(ts):
		if !holding {
			w.starting[id] = startingUpdate{status: ts, answer: true, due: time.Now().Add(w.grace)}
		}
		w.s.answered(id)
		return true
	case holding && len(ts.UUID) > 0 && podtask.IsTerminal(ts.GetState()):
		delete(w.starting, id)
	}
	return false
}

// answerHeld says whether a reconciliation answer of the task is held (holdAnswer).
func (w *worker) answerHeld(id string) bool {
	h, ok := w.starting[id]
	return ok && h.answer
}

// endedInAnswer says whether an update is the master's answer to a reconciliation that
// a task ended as its agent reported it (finished, failed or killed; not the ends the
// master makes up itself: lost, gone, unknown).
func endedInAnswer(ts mesos.TaskStatus) bool {
	if len(ts.UUID) > 0 || ts.GetReason() != mesos.REASON_RECONCILIATION {
		return false
	}
	switch ts.GetState() {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED:
		return true
	}
	return false
}

// flush writes the held-back launches and STARTINGs that are due, the updates to write
// again that are due, and the deferred MesosTask creates that are (writeRecords).
func (w *worker) flush(ctx context.Context, now time.Time, queued int) {
	for _, d := range dueStarting(w.starting, now, queued) {
		if d.launch {
			w.s.recordLaunch(ctx, d.status.TaskID.Value)
		} else {
			w.writeKept(ctx, d.status.TaskID.Value, []mesos.TaskStatus{d.status})
		}
	}
	w.retryDue(ctx, now)
	w.writeRecords(ctx, now)
}

// dueStarting takes out of pending the STARTING updates to write now: those past their
// grace, and none while queued updates wait for the worker. A worker that is behind may
// hold the update that makes a STARTING moot, or it may still be in the event stream,
// which waits for the queue; under load that is the common case, and each STARTING
// written then is one more MesosTask write per pod.
func dueStarting(pending map[string]startingUpdate, now time.Time, queued int) []startingUpdate {
	if queued > 0 {
		return nil
	}
	var due []startingUpdate
	for id, d := range pending {
		if !now.Before(d.due) {
			due = append(due, d)
			delete(pending, id)
		}
	}
	return due
}

// deferrable says whether an update may be acknowledged before it is written: only an
// agent's TASK_STARTING (it has a uuid), never a reconciliation answer.
func deferrable(ts mesos.TaskStatus) bool {
	return ts.GetState() == mesos.TASK_STARTING && len(ts.UUID) > 0 && ts.GetReason() != mesos.REASON_RECONCILIATION
}

// recordLaunch writes the launch of a task that no update has written yet, so that a
// task slow to start shows Staging on its agent: its MesosTask is created then, if it is
// not written yet.
func (s *Scheduler) recordLaunch(ctx context.Context, taskID string) {
	l, ok := s.launchOf(taskID)
	if !ok {
		return
	}
	key, err := s.ownerOf(ctx, taskID)
	if err != nil || key == nil {
		return // gone
	}
	mt, err := s.taskOf(ctx, s.Client, *key, mesos.TaskStatus{TaskID: mesos.TaskID{Value: taskID}})
	if err != nil || mt.Status.Phase != "" {
		return // gone, or an update was written
	}
	podtask.SetLaunched(&mt.Status, l, mt.Generation)
	if err := s.saveTask(ctx, mt); err != nil {
		s.Log.V(1).Info("Could not write a launch; the next update does", "task", taskID, "error", err.Error())
		return
	}
	s.markStored(taskID)
}
