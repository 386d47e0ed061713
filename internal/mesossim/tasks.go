package mesossim

import (
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

func isTerminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR,
		mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}

// forFramework turns states a framework that is not PARTITION_AWARE may not see into LOST.
func forFramework(fw *framework, s mesos.TaskState) mesos.TaskState {
	if fw.partitionAware {
		return s
	}
	switch s {
	case mesos.TASK_DROPPED, mesos.TASK_UNREACHABLE, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR, mesos.TASK_UNKNOWN:
		return mesos.TASK_LOST
	}
	return s
}

// acceptLocked runs an ACCEPT: offers are checked as a whole, then each LAUNCH task.
func (m *Master) acceptLocked(fw *framework, acc *scheduler.Call_Accept) {
	m.observeLaunchesLocked(fw, acc)
	offers, invalid := m.validateOffersLocked(fw, acc.OfferIDs)
	if invalid != "" {
		for _, o := range offers {
			m.recoverOfferLocked(o)
		}
		for _, op := range acc.Operations {
			for _, t := range launchTasks(op) {
				masterUpdate(fw, t.TaskID.Value, &t.AgentID, mesos.TASK_DROPPED, mesos.REASON_INVALID_OFFERS, "Task launched with invalid offers: "+invalid)
			}
		}
		return
	}
	a := offers[0].agent
	avail := newPool()
	for _, o := range offers {
		avail.add(o.res)
		delete(m.offers, o.id)
	}
	for _, op := range acc.Operations {
		if op.GetType() == mesos.Offer_Operation_LAUNCH_GROUP {
			m.launchGroupLocked(fw, a, op.GetLaunchGroup(), offers[0].role, &avail)
			continue
		}
		for _, ti := range launchTasks(op) {
			// The master fills in the framework id of an executor that names none
			// (Master::accept, LAUNCH): the task's executor and its LAUNCH carry it.
			if ti.Executor != nil && ti.Executor.FrameworkID == nil {
				e := *ti.Executor
				e.FrameworkID = &mesos.FrameworkID{Value: fw.id}
				ti.Executor = &e
			}
			if why := m.validateTaskLocked(fw, a, ti, offers[0].role, &avail, false); why != "" {
				masterUpdate(fw, ti.TaskID.Value, &ti.AgentID, mesos.TASK_ERROR, mesos.REASON_TASK_INVALID, why)
				continue
			}
			if run := m.launchLocked(fw, a, ti, offers[0].role); run != nil {
				run.deliver(&mexec.Event{Type: mexec.Event_LAUNCH, Launch: &mexec.Event_Launch{Task: ti}})
			}
		}
	}
	a.free.add(avail)
	m.refuseLocked(fw, a, offers[0].role, avail, acc.Filters, time.Now())
}

// launchGroupLocked launches a task group as Mesos does: atomically (one invalid task
// fails them all, master.cpp validates the group as a whole) and delivered to the
// executor as one LAUNCH_GROUP event.
func (m *Master) launchGroupLocked(fw *framework, a *agent, lg *mesos.Offer_Operation_LaunchGroup, role string, avail *pool) {
	tasks := make([]mesos.TaskInfo, len(lg.TaskGroup.Tasks))
	before := avail.clone()
	for i, ti := range lg.TaskGroup.Tasks {
		e := lg.Executor
		ti.Executor = &e
		tasks[i] = ti
		if why := m.validateTaskLocked(fw, a, ti, role, avail, true); why != "" {
			*avail = before
			for _, t := range lg.TaskGroup.Tasks {
				masterUpdate(fw, t.TaskID.Value, &t.AgentID, mesos.TASK_ERROR, mesos.REASON_TASK_GROUP_INVALID, why)
			}
			return
		}
	}
	var run *execRun
	for _, ti := range tasks {
		if r := m.launchLocked(fw, a, ti, role); r != nil {
			run = r
		}
	}
	if run != nil {
		run.deliver(&mexec.Event{Type: mexec.Event_LAUNCH_GROUP, LaunchGroup: &mexec.Event_LaunchGroup{
			TaskGroup: mesos.TaskGroupInfo{Tasks: lg.TaskGroup.Tasks}}})
	}
}

// validateOffersLocked checks the offers of an ACCEPT in the order of validation.cpp's
// offer::validate (unique ids, still valid, this framework's, one role, one agent) and
// returns those that are valid and this framework's, and the first error ("" if none).
// No offer at all is Master::accept's "No offers specified".
func (m *Master) validateOffersLocked(fw *framework, ids []mesos.OfferID) ([]*offer, string) {
	var offers []*offer
	for _, id := range ids {
		if o := m.offers[id.Value]; o != nil && o.fw == fw {
			offers = append(offers, o)
		}
	}
	if len(ids) == 0 {
		return nil, "No offers specified"
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id.Value] {
			return offers, "Duplicate offer " + id.Value + " in offer list"
		}
		seen[id.Value] = true
	}
	for _, id := range ids {
		if m.offers[id.Value] == nil {
			return offers, "Offer " + id.Value + " is no longer valid"
		}
	}
	for _, id := range ids {
		if o := m.offers[id.Value]; o.fw != fw {
			return offers, "Offer " + id.Value + " has invalid framework " + o.fw.id + " while framework " + fw.id + " is expected"
		}
	}
	for _, o := range offers[1:] {
		if o.role != offers[0].role {
			return offers, "Aggregated offers must be allocated to the same role. Offer " + o.id + " uses role '" + o.role +
				" but another is using role '" + offers[0].role
		}
		if o.agent != offers[0].agent {
			return offers, "Aggregated offers must belong to one single agent. Offer " + o.id + " uses agent " + o.agent.id +
				" and agent " + offers[0].agent.id
		}
	}
	return offers, ""
}

func launchTasks(op mesos.Offer_Operation) []mesos.TaskInfo {
	switch op.GetType() {
	case mesos.Offer_Operation_LAUNCH:
		return op.GetLaunch().TaskInfos
	case mesos.Offer_Operation_LAUNCH_GROUP:
		return op.GetLaunchGroup().TaskGroup.Tasks
	}
	return nil
}

// validateTaskLocked checks one task against Mesos's rules (src/master/validation.cpp:
// task::validate and its internal validators, in their order and words) and takes its
// resources (and a new executor's) from avail; it returns why the task is invalid, or "".
// A task of a LAUNCH_GROUP (group) is checked more loosely: the sim does not hold groups
// to task::group::validate (its words, the executor's type and minimal resources).
func (m *Master) validateTaskLocked(fw *framework, a *agent, ti mesos.TaskInfo, role string, avail *pool, group bool) string {
	if !group {
		if why := validateID(ti.TaskID.Value); why != "" {
			return why // task::internal::validateTaskID
		}
	}
	if why := idTaken(fw, ti.TaskID.Value); why != "" {
		return why
	}
	if ti.AgentID.Value != a.id {
		return "Task uses invalid agent " + ti.AgentID.Value + " while agent " + a.id + " is expected"
	}
	need := fromResources(ti.Resources)
	if need.empty() {
		return "Task uses no resources"
	}
	if (ti.Command == nil) == (ti.Executor == nil) {
		return "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
	}
	if ti.Executor != nil {
		e := *ti.Executor
		known, ok := a.executors[fw.id+"/"+e.ExecutorID.Value]
		if !group {
			if why := executorRefusal(fw, e); why != "" {
				return why
			}
		}
		if ok && !known.Equal(&e) && !sameExecutor(known, e) {
			return "ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID " + e.ExecutorID.Value
		}
		switch {
		case group:
			if !ok && e.Command == nil && e.Type != mesos.ExecutorInfo_DEFAULT {
				return "Executor " + e.ExecutorID.Value + " has no command"
			}
		// task::internal::validateExecutor, for a LAUNCH. Go cannot tell a type set to
		// UNKNOWN from none, which Mesos lets through.
		case e.Type != mesos.ExecutorInfo_UNKNOWN && e.Type != mesos.ExecutorInfo_CUSTOM:
			return "'ExecutorInfo.type' must be 'CUSTOM'"
		case e.Command == nil:
			return "'ExecutorInfo.command' must be set"
		}
		if !ok {
			need.add(fromResources(e.Resources))
		}
	}
	// Resources without allocation info get the offer's (Master::accept,
	// injectAllocationInfo); those allocated to another role are not in the offer.
	if !avail.contains(need) || !allocatedTo(role, ti) {
		return "Total resources " + mesos.Resources(need.toResources("", false)).String() +
			" required by task and its executor is more than available " + mesos.Resources(avail.toResources("", false)).String()
	}
	avail.subtract(need)
	return ""
}

// executorRefusal says why the master refuses the executor of a LAUNCH before it looks
// at the agent's executors (src/master/validation.cpp executor::internal::validate:
// executor::validate's validateType and validateExecutorID, then validateFrameworkID,
// whose framework id Master::accept filled in when the framework gave none), or "".
// The sim runs no containers, so the ContainerInfo checks are left out.
func executorRefusal(fw *framework, e mesos.ExecutorInfo) string {
	switch {
	case e.Type == mesos.ExecutorInfo_DEFAULT && e.Command != nil:
		return "'ExecutorInfo.command' must not be set for 'DEFAULT' executor"
	case e.Type == mesos.ExecutorInfo_CUSTOM && e.Command == nil:
		return "'ExecutorInfo.command' must be set for 'CUSTOM' executor"
	}
	if why := validateID(e.ExecutorID.Value); why != "" {
		return why
	}
	switch {
	case e.FrameworkID == nil:
		return "'ExecutorInfo.framework_id' must be set"
	case e.FrameworkID.Value != fw.id:
		return "ExecutorInfo has an invalid FrameworkID (Actual: " + e.FrameworkID.Value + " vs Expected: " + fw.id + ")"
	}
	return ""
}

// validateID is Mesos's rule for task and executor ids (src/common/validation.cpp
// validateID): not empty, at most NAME_MAX (255 on Linux) bytes, not "." or "..", and no
// control character (iscntrl), '/' or '\': ids name directories on the agent.
func validateID(id string) string {
	switch {
	case id == "":
		return "ID must not be empty"
	case len(id) > 255:
		return "ID must not be greater than 255 characters"
	case id == "." || id == "..":
		return "'" + id + "' is disallowed"
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c == 0x7f || c == '/' || c == '\\' {
			return "'" + id + "' contains invalid characters"
		}
	}
	return ""
}

// idTaken says why the master refuses a new task of fw the id id (validation.cpp:
// validateUniqueTaskID), or "": a task the master holds has it (Framework::tasks: one
// that has not ended, or whose terminal update is not acknowledged yet, its agent
// restarting or not, but not one of an agent it removed), or a task of an agent it took
// for unreachable (Framework::unreachableTasks). Mesos keeps no more than
// --max_unreachable_tasks_per_framework (1000) of the latter; the sim keeps them all.
func idTaken(fw *framework, id string) string {
	t := fw.tasks[id]
	switch {
	case t == nil:
		return ""
	case !t.agent.gone && t.heldByMaster():
		return "Task has duplicate ID: " + id
	case t.agent.gone && t.unreachable:
		return "Task reuses the ID of an unreachable task: " + id
	}
	return ""
}

// allocatedTo says whether every resource of a task (and of its executor) that names a
// role it is allocated to names role.
func allocatedTo(role string, ti mesos.TaskInfo) bool {
	for _, r := range append(append([]mesos.Resource(nil), ti.Resources...), ti.GetExecutor().GetResources()...) {
		if ai := r.GetAllocationInfo(); ai != nil && ai.GetRole() != role {
			return false
		}
	}
	return true
}

// sameExecutor compares what Mesos compares of two ExecutorInfos: everything, resources
// included, but the framework id the master fills in.
func sameExecutor(a, b mesos.ExecutorInfo) bool {
	a.FrameworkID, b.FrameworkID = nil, nil
	return a.Equal(&b)
}

// launchLocked starts a valid task of an offer allocated to role: STAGING, then the
// simulated agent runs it, or the executor it names, which the caller hands the task to
// through the returned run (nil when the task is simulated, or its executor could not
// start or is shutting down).
func (m *Master) launchLocked(fw *framework, a *agent, ti mesos.TaskInfo, role string) *execRun {
	res := fromResources(ti.Resources)
	if ti.Executor != nil {
		key := fw.id + "/" + ti.Executor.ExecutorID.Value
		if _, ok := a.executors[key]; !ok {
			e := *ti.Executor
			a.executors[key] = e
		}
	}
	t := &task{info: ti, fw: fw, agent: a, state: mesos.TASK_STAGING, res: res, role: role, backoff: m.cfg.UpdateRetry, finished: make(chan struct{})}
	if old := fw.tasks[ti.TaskID.Value]; old != nil {
		// One of an agent the master removed (idTaken): forgotten, updates and all, so
		// that nothing of it reaches the framework under the new task's id.
		m.dropPendingLocked(old)
	}
	fw.tasks[ti.TaskID.Value] = t
	m.adoptStrayLocked(t)
	if m.cfg.Exec && ti.Executor == nil {
		m.startCommandLocked(t)
		return nil
	}
	if !m.cfg.Exec {
		go m.simulate(t)
		return nil
	}
	key := fw.id + "/" + ti.Executor.ExecutorID.Value
	run := a.runs[key]
	if run != nil && run.terminating {
		// An executor told to shut down takes no task (Mesos: src/slave/slave.cpp
		// Slave::__run): TASK_DROPPED (TASK_LOST if not PARTITION_AWARE),
		// REASON_EXECUTOR_TERMINATED, "Executor terminating", from the agent with a
		// uuid, naming no executor.
		st := m.agentStatus(t, forFramework(fw, mesos.TASK_DROPPED), mesos.SOURCE_AGENT, mesos.REASON_EXECUTOR_TERMINATED.Enum(), "Executor terminating")
		st.ExecutorID = nil
		m.queueUpdateLocked(t, st)
		return nil
	}
	if run == nil {
		var err error
		if run, err = m.startExecutorLocked(fw, a, *ti.Executor); err != nil {
			reason := mesos.REASON_EXECUTOR_TERMINATED
			m.agentUpdateLocked(t, mesos.TASK_FAILED, &reason, err.Error())
			return nil
		}
		a.runs[key] = run
	}
	return run
}

// simulate moves a task through STARTING and RUNNING (and FINISHED after the label's
// duration), as an executor would report it.
func (m *Master) simulate(t *task) {
	wait := func(d time.Duration) bool {
		if d <= 0 {
			return true
		}
		select {
		case <-time.After(d):
			return true
		case <-t.finished:
			return false
		case <-m.stop:
			return false
		}
	}
	for _, s := range []mesos.TaskState{mesos.TASK_STARTING, mesos.TASK_RUNNING} {
		if !wait(m.cfg.TaskStartDelay / 2) {
			return
		}
		m.mu.Lock()
		if isTerminal(t.state) || t.stopping {
			m.mu.Unlock()
			return
		}
		m.agentUpdateLocked(t, s, nil, "")
		m.mu.Unlock()
	}
	var after time.Duration
	if ls := t.info.GetLabels(); ls != nil {
		for _, l := range ls.Labels {
			if l.Key == LabelFinishAfter {
				after, _ = time.ParseDuration(l.GetValue())
			}
		}
	}
	if after > 0 && wait(after) {
		m.mu.Lock()
		if !isTerminal(t.state) {
			m.agentUpdateLocked(t, mesos.TASK_FINISHED, nil, "")
		}
		m.mu.Unlock()
	}
}

// agentUpdateLocked records a state reported from the agent (executor source, with a
// uuid) and queues it for the framework: one update in flight per task, resent until
// acknowledged. Resources are freed on a terminal state at once.
func (m *Master) agentUpdateLocked(t *task, s mesos.TaskState, reason *mesos.TaskStatus_Reason, msg string) {
	source := mesos.SOURCE_EXECUTOR
	if reason != nil && *reason == mesos.REASON_EXECUTOR_TERMINATED {
		source = mesos.SOURCE_AGENT
	}
	m.agentStatusLocked(t, s, source, reason, msg)
}

// agentStatusLocked is agentUpdateLocked with the source given.
func (m *Master) agentStatusLocked(t *task, s mesos.TaskState, source mesos.TaskStatus_Source, reason *mesos.TaskStatus_Reason, msg string) {
	m.queueUpdateLocked(t, m.agentStatus(t, s, source, reason, msg))
}

// agentStatus is the status of an agent's update of a task, with a new uuid, the task's
// executor, and, from the executor, its container.
func (m *Master) agentStatus(t *task, s mesos.TaskState, source mesos.TaskStatus_Source, reason *mesos.TaskStatus_Reason, msg string) mesos.TaskStatus {
	now := float64(time.Now().UnixNano()) / 1e9
	st := mesos.TaskStatus{
		TaskID: t.info.TaskID, State: s.Enum(), AgentID: &mesos.AgentID{Value: t.agent.id},
		ExecutorID: executorIDOf(t), Source: source.Enum(), Reason: reason,
		UUID: newUUID(), Timestamp: &now,
	}
	if msg != "" {
		st.Message = &msg
	}
	if source == mesos.SOURCE_EXECUTOR {
		m.withContainerStatus(t, &st)
	}
	return st
}

// queueUpdateLocked records a status of a task and queues it for the framework: one
// update in flight per task, resent until acknowledged; resources are freed on a
// terminal state at once. While the agent is partitioned the master does not learn the
// state: it keeps the task UNREACHABLE until the agent comes back.
func (m *Master) queueUpdateLocked(t *task, st mesos.TaskStatus) {
	s := st.GetState()
	if !t.agent.gone {
		if isTerminal(s) && !isTerminal(t.state) {
			m.observeEnded(t, st)
		}
		t.state = s
	}
	t.last = st
	if st.ContainerStatus != nil {
		t.containerStatus = st.ContainerStatus
	}
	if isTerminal(s) {
		m.releaseLocked(t)
	}
	m.enqueueLocked(t, st)
}

// enqueueLocked puts an update in a task's status update stream, behind those not
// acknowledged yet, and sends it when it is the first.
func (m *Master) enqueueLocked(t *task, st mesos.TaskStatus) {
	p := pendingUpdate{status: st}
	if m.updateDelay > 0 {
		p.ready = time.Now().Add(m.updateDelay)
	}
	t.pending = append(t.pending, p)
	if len(t.pending) == 1 {
		m.sendPendingLocked(t)
	}
}

// executorIDOf is the executor of a task as the agent names it: a command task's
// executor shares the task's id (slave.cpp: Slave::getExecutorInfo).
func executorIDOf(t *task) *mesos.ExecutorID {
	if t.info.Executor == nil {
		return &mesos.ExecutorID{Value: t.info.TaskID.Value}
	}
	id := t.info.Executor.ExecutorID
	return &id
}

// sendPendingLocked sends the update in flight (twice with DuplicateUpdates, not before
// its time with DelayUpdates) and arms its retry. Nothing is sent while the agent is not
// connected; agentReconnectedLocked sends it when it is.
func (m *Master) sendPendingLocked(t *task) {
	if t.retry != nil {
		t.retry.Stop()
		t.retry = nil
	}
	t.retryGen++
	if len(t.pending) == 0 || !t.agent.connected() || t.fw.removed {
		return
	}
	gen := t.retryGen
	again := func(grow bool) func() {
		return func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if t.retryGen != gen {
				return // acknowledged or re-armed since
			}
			if grow {
				t.backoff = min(2*t.backoff, 10*time.Minute)
			}
			m.sendPendingLocked(t)
		}
	}
	p := t.pending[0]
	if wait := time.Until(p.ready); wait > 0 {
		t.retry = time.AfterFunc(wait, again(false))
		return
	}
	e := updateEvent(p.status)
	if t.fw.stream != nil {
		if !t.stray {
			t.sentState = p.status.State
		} else if known := t.fw.tasks[t.info.TaskID.Value]; known != nil {
			// Master::forward sets the status_update_state of the framework's task of
			// that id, whichever agent's update it forwards.
			known.sentState = p.status.State
		}
	}
	t.fw.send(e)
	if m.duplicateUpdates {
		t.fw.send(e)
	}
	t.retry = time.AfterFunc(t.backoff, again(true))
}

// dropPendingLocked forgets a task's unacknowledged updates, as an agent that lost them.
func (m *Master) dropPendingLocked(t *task) {
	t.pending = nil
	if t.retry != nil {
		t.retry.Stop()
		t.retry = nil
	}
	t.retryGen++
}

// sawUpdate records the uuid of an update from an executor; false when it came before
// (an executor resends the updates the agent has not acknowledged).
func (t *task) sawUpdate(uuid []byte) bool {
	for _, u := range t.seen {
		if u == string(uuid) {
			return false
		}
	}
	t.seen = append(t.seen, string(uuid))
	return true
}

// heldByMaster says whether the master still holds a task of a registered agent (Mesos:
// Framework::tasks, Slave::tasks): until its terminal update is acknowledged
// (Master::acknowledge removes it then). The master also lets go of the tasks of an
// agent it removes (__removeSlave), which the sim keeps for the agent's return (callers
// check agent.gone), and of an agent that restarts, for a framework that does not
// checkpoint (removeFramework(Slave*, Framework*); loseUncheckpointedTasksLocked).
func (t *task) heldByMaster() bool { return !isTerminal(t.state) || len(t.pending) > 0 }

// liveOnAgent says whether the task runs as far as its agent knows: neither the master
// nor the agent has ended it (a partition leaves the agent's view as it was).
func (t *task) liveOnAgent() bool {
	return !isTerminal(t.state) && (t.last.State == nil || !isTerminal(t.last.GetState()))
}

// releaseLocked frees a finished task's resources.
func (m *Master) releaseLocked(t *task) {
	select {
	case <-t.finished:
		return
	default:
		close(t.finished)
	}
	if !t.agent.gone {
		t.agent.free.add(t.res)
	}
	if t.info.Executor == nil {
		delete(t.agent.containers, t.fw.id+"/"+t.info.TaskID.Value) // the command executor exits with its task
	}
}
