package mesossim

import (
	"time"

	"github.com/google/uuid"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// RECONCILE and KILL as the master answers them (src/master/master.cpp:
// Master::reconcile, Master::kill), and the container a task runs in as the agent
// reports it (src/slave/slave.cpp: Slave::_statusUpdate).

// masterStatus is a status the master makes up (protobuf::createStatusUpdate with
// SOURCE_MASTER): no uuid, nothing to acknowledge; states a framework that is not
// PARTITION_AWARE may not see become TASK_LOST.
func masterStatus(fw *framework, taskID string, agentID *mesos.AgentID, state mesos.TaskState, reason mesos.TaskStatus_Reason, msg string) mesos.TaskStatus {
	now := float64(time.Now().UnixNano()) / 1e9
	st := forFramework(fw, state)
	return mesos.TaskStatus{TaskID: mesos.TaskID{Value: taskID}, State: &st, AgentID: agentID,
		Source: mesos.SOURCE_MASTER.Enum(), Reason: reason.Enum(), Message: &msg, Timestamp: &now}
}

// masterUpdate sends a master-generated update.
func masterUpdate(fw *framework, taskID string, agentID *mesos.AgentID, state mesos.TaskState, reason mesos.TaskStatus_Reason, msg string) {
	fw.send(updateEvent(masterStatus(fw, taskID, agentID, state, reason, msg)))
}

// taskUpdate sends a master-generated update of a task the master knows, with the
// executor id it knows for it (master.cpp: __removeSlave, removeFramework(Slave*,
// Framework*)).
func taskUpdate(fw *framework, t *task, state mesos.TaskState, reason mesos.TaskStatus_Reason, msg string) {
	fw.send(updateEvent(taskStatus(fw, t, state, reason, msg)))
}

// taskStatus is the status of a taskUpdate.
func taskStatus(fw *framework, t *task, state mesos.TaskState, reason mesos.TaskStatus_Reason, msg string) mesos.TaskStatus {
	st := masterStatus(fw, t.info.TaskID.Value, &mesos.AgentID{Value: t.agent.id}, state, reason, msg)
	if t.info.Executor != nil {
		id := t.info.Executor.ExecutorID
		st.ExecutorID = &id
	}
	return st
}

// latestState sends a known task's latest state, as reconciliation does (Mesos:
// src/master/master.cpp Master::reconcile): the state of the latest update sent to the
// framework if there is one (Task.status_update_state: an update not acknowledged yet
// is answered with, not the newer states queued behind it), else the task's; the
// executor id the master knows for it (none for a command task, whose executor the
// agent makes up); the latest status's healthy and check_status, and the latest
// container status.
func latestState(fw *framework, t *task) {
	state := t.state
	if t.sentState != nil && !t.agent.gone {
		state = *t.sentState
	}
	st := masterStatus(fw, t.info.TaskID.Value, &mesos.AgentID{Value: t.agent.id}, state, mesos.REASON_RECONCILIATION, "Reconciliation: Latest task state")
	if t.info.Executor != nil {
		id := t.info.Executor.ExecutorID
		st.ExecutorID = &id
	}
	st.Healthy, st.CheckStatus, st.ContainerStatus = t.last.Healthy, t.last.CheckStatus, t.containerStatus
	fw.send(updateEvent(st))
}

// reconcileLocked answers RECONCILE as Master::reconcile does. The master holds a
// framework's tasks (Framework::tasks) until their terminal update is acknowledged, and
// not those of a partitioned or removed agent (__removeSlave removes them). Implicit
// (no tasks): the latest state of each task it holds. Explicit, for each task: (1) held
// → its latest state; (2) unknown, and the agent named, or with no agent named any
// agent, recovered from the registry after a master failover and not registered again
// → no answer; (3) unknown on a registered agent → TASK_GONE; (4) agent unreachable →
// TASK_UNREACHABLE, with the time it became so; (5) agent gone → TASK_GONE_BY_OPERATOR;
// (6) agent unknown or not given → TASK_UNKNOWN — TASK_LOST for (3)–(6) unless
// PARTITION_AWARE. The master holds no task of a recovered agent.
func (m *Master) reconcileLocked(fw *framework, r *scheduler.Call_Reconcile) {
	if len(r.Tasks) == 0 {
		for _, t := range fw.tasks {
			if t.agent.registered() && t.heldByMaster() {
				latestState(fw, t)
			}
		}
		return
	}
	for _, rt := range r.Tasks {
		id := rt.TaskID.Value
		if t := fw.tasks[id]; t != nil && t.agent.registered() {
			latestState(fw, t)
			continue
		}
		var a *agent
		if rt.AgentID != nil {
			a = m.agentByID[rt.AgentID.Value]
		}
		switch {
		case a != nil && a.recovered, rt.AgentID == nil && m.anyRecoveredLocked():
			// (2): the framework has to ask again once the agent has registered.
		case a == nil, a.forgotten: // (6); a removed agent (machine DOWN) is not known
			masterUpdate(fw, id, rt.AgentID, mesos.TASK_UNKNOWN, mesos.REASON_RECONCILIATION, "Reconciliation: Task is unknown")
		case a.removed:
			masterUpdate(fw, id, rt.AgentID, mesos.TASK_GONE_BY_OPERATOR, mesos.REASON_RECONCILIATION, "Reconciliation: Task is gone")
		case a.gone:
			st := masterStatus(fw, id, rt.AgentID, mesos.TASK_UNREACHABLE, mesos.REASON_RECONCILIATION, "Reconciliation: Task is unreachable")
			st.UnreachableTime = a.unreachableTime()
			fw.send(updateEvent(st))
		default:
			masterUpdate(fw, id, rt.AgentID, mesos.TASK_GONE, mesos.REASON_RECONCILIATION, "Reconciliation: Task is unknown to the agent")
		}
	}
}

// unreachableTime is when a partitioned agent became unreachable, as a TimeInfo.
func (a *agent) unreachableTime() *mesos.TimeInfo {
	return &mesos.TimeInfo{Nanoseconds: a.unreachable.UnixNano()}
}

// killLocked kills a task as Master::kill does: an unknown task (or one whose
// terminal update was acknowledged) is answered through explicit reconciliation, a
// KILL naming another agent than the task's is ignored, and a terminal task the agent
// has not forgotten yet gets nothing. The agent (Slave::kill) passes a KILL on to the
// task's executor once it has subscribed; before, it ends the task itself
// (killQueuedLocked); and it ignores a KILL while the executor shuts down. A command
// task ends as Mesos's command executor reports a SIGTERM (src/launcher/executor.cpp).
func (m *Master) killLocked(fw *framework, k *scheduler.Call_Kill) {
	t := fw.tasks[k.TaskID.Value]
	if t == nil || !t.agent.registered() {
		m.reconcileLocked(fw, &scheduler.Call_Reconcile{Tasks: []scheduler.Call_Reconcile_Task{{TaskID: k.TaskID, AgentID: k.AgentID}}})
		return
	}
	if (k.AgentID != nil && k.AgentID.Value != t.agent.id) || isTerminal(t.state) {
		return
	}
	if m.cfg.Exec && t.info.Executor != nil {
		if run := t.agent.runs[fw.id+"/"+t.info.Executor.ExecutorID.Value]; run != nil {
			switch {
			case run.terminating:
			case !run.registered && !run.recovering && m.killQueuedLocked(run, t.info.TaskID):
			default:
				run.deliver(&mexec.Event{Type: mexec.Event_KILL, Kill: &mexec.Event_Kill{TaskID: t.info.TaskID, KillPolicy: k.KillPolicy}})
			}
			return
		}
	}
	// TASK_KILLING is an executor's word, never the master's or the agent's: here the
	// sim speaks for Mesos's command executor (a command task) or for the executor of a
	// simulated task, as Mesos's executors and k8sm's answer a first KILL. The task of an
	// executor the sim runs (above) hears only what that executor says.
	if hasCapability(fw.info, mesos.FrameworkInfo_Capability_TASK_KILLING_STATE) && t.state == mesos.TASK_RUNNING {
		m.agentUpdateLocked(t, mesos.TASK_KILLING, nil, "")
	}
	if t.command != nil {
		m.killCommandLocked(t, k.KillPolicy)
		return
	}
	msg := "Killed by the framework"
	if t.info.Executor == nil {
		msg = "Command terminated with signal Terminated"
	}
	if d := m.cfg.TaskStopDelay; d > 0 {
		if !t.stopping { // a KILL while it stops changes nothing
			t.stopping = true
			go m.stopAfter(t, d, msg)
		}
		return
	}
	m.agentUpdateLocked(t, mesos.TASK_KILLED, nil, msg)
}

// stopAfter ends a killed simulated task after d (Config.TaskStopDelay), unless it
// ended otherwise meanwhile (its agent lost it, say).
func (m *Master) stopAfter(t *task, d time.Duration, msg string) {
	select {
	case <-time.After(d):
	case <-t.finished:
		return
	case <-m.stop:
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !isTerminal(t.state) {
		m.agentUpdateLocked(t, mesos.TASK_KILLED, nil, msg)
	}
}

// container is an executor's container on an agent, as the agent reports it in the
// status updates of its tasks.
type container struct {
	id  string
	pid int
}

// containerLocked is the container a task's executor runs in (a command task's, named
// after the task, is its own): the executor process's pid when the sim runs it, else
// a made-up one.
func (m *Master) containerLocked(t *task) container {
	key := t.fw.id + "/" + executorIDOf(t).Value
	if run := t.agent.runs[key]; run != nil {
		return container{id: run.containerID, pid: run.cmd.Process.Pid}
	}
	c, ok := t.agent.containers[key]
	if !ok {
		m.nextRun++
		c = container{id: uuid.NewString(), pid: 10000 + m.nextRun}
		t.agent.containers[key] = c
	}
	return c
}

// withContainerStatus adds to an executor's update what the agent adds
// (Slave::_statusUpdate): the container's id and executor pid, and the agent's address
// as the container's when the executor gave none.
func (m *Master) withContainerStatus(t *task, st *mesos.TaskStatus) {
	c := m.containerLocked(t)
	cs := st.ContainerStatus
	if cs == nil {
		cs = &mesos.ContainerStatus{}
	}
	pid := uint32(c.pid)
	cs.ContainerID, cs.ExecutorPID = &mesos.ContainerID{Value: c.id}, &pid
	if len(cs.NetworkInfos) == 0 {
		cs.NetworkInfos = []mesos.NetworkInfo{{IPAddresses: []mesos.NetworkInfo_IPAddress{
			{IPAddress: ptr(t.agent.ip), Protocol: mesos.IPv4.Enum()}}}}
	}
	st.ContainerStatus = cs
}
