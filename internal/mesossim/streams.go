package mesossim

import (
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// Status update streams, as an agent's status update manager keeps them (Mesos:
// src/slave/task_status_update_manager.cpp): one per framework and task id on each
// agent, its updates sent to the master one at a time and again until acknowledged.
// The stream of a task the master holds is the task itself (task.pending); an agent
// also keeps streams of tasks it does not know (agent.strays), for updates executors
// send of such tasks, which the master forwards all the same.

// acknowledgeLocked applies an ACKNOWLEDGE as Master::acknowledge does (Mesos:
// src/master/master.cpp): it goes to the agent the call names (acknowledge.agent_id),
// and is dropped (the call is still answered 202) while that agent is not registered
// and connected; the agent's status update manager takes it for its stream of that
// task (TaskStatusUpdateManagerProcess::acknowledgement) and ignores it when it has
// none — a task of another agent, or none at all — or when the uuid is not that of the
// update in flight. An acknowledgement dropped or ignored leaves the update to be sent
// again. The master forgets a task it holds once its terminal update is acknowledged;
// the agent ends a stream of a task it does not know then, with anything still queued
// in it.
func (m *Master) acknowledgeLocked(fw *framework, ack *scheduler.Call_Acknowledge) error {
	a := m.agentByID[ack.AgentID.Value]
	if a == nil || !a.connected() {
		return nil
	}
	t := streamOf(fw, a, ack.TaskID.Value)
	if t == nil || len(t.pending) == 0 || string(t.pending[0].status.UUID) != string(ack.UUID) {
		return nil // a stale or repeated ack, or one for another agent: Mesos drops it
	}
	acked := t.pending[0].status.GetState()
	t.pending = t.pending[1:]
	t.backoff = m.cfg.UpdateRetry
	if t.stray && isTerminal(acked) {
		m.dropPendingLocked(t)
		delete(a.strays, fw.id+"/"+ack.TaskID.Value)
		return nil
	}
	m.sendPendingLocked(t) // the next one, if any; stops the retry
	if !t.stray && len(t.pending) == 0 && isTerminal(t.state) {
		delete(fw.tasks, ack.TaskID.Value)
	}
	return nil
}

// streamOf is an agent's status update stream of a framework's task: the task, when
// the master holds it on that agent, else the agent's stream of a task it does not
// know, if it has one.
func streamOf(fw *framework, a *agent, taskID string) *task {
	if t := fw.tasks[taskID]; t != nil && t.agent == a {
		return t
	}
	return a.strays[fw.id+"/"+taskID]
}

// strayUpdateLocked takes an executor's update of a task its agent does not know (Mesos:
// src/slave/slave.cpp Slave::statusUpdate, when no executor of the framework holds the
// task): the agent's status update manager keeps it in a stream of its own, without
// container status, and sends it to the master, again until acknowledged, as any other
// (TaskStatusUpdateManagerProcess::update); the master forwards it to the framework
// whether it knows the task or not (src/master/master.cpp Master::statusUpdate,
// forward). An update the stream had before (same uuid) is not passed on again.
func (m *Master) strayUpdateLocked(a *agent, fw *framework, st mesos.TaskStatus) {
	key := fw.id + "/" + st.TaskID.Value
	s := a.strays[key]
	if s == nil {
		s = &task{info: mesos.TaskInfo{TaskID: st.TaskID, AgentID: mesos.AgentID{Value: a.id}}, fw: fw, agent: a,
			backoff: m.cfg.UpdateRetry, stray: true}
		a.strays[key] = s
	}
	if s.sawUpdate(st.UUID) {
		m.enqueueLocked(s, st)
	}
}

// adoptStrayLocked gives a new task the agent's stream of its id, if the agent has one
// from before it knew the task: the status update manager keeps one stream per
// framework and task id, so what that stream still holds goes first.
func (m *Master) adoptStrayLocked(t *task) {
	key := t.fw.id + "/" + t.info.TaskID.Value
	s := t.agent.strays[key]
	if s == nil {
		return
	}
	delete(t.agent.strays, key)
	t.pending, t.seen = s.pending, s.seen
	m.dropPendingLocked(s)
	if len(t.pending) > 0 {
		m.sendPendingLocked(t)
	}
}

// resendStraysLocked sends again the update in flight of the agent's streams of tasks it
// does not know, of one framework or (fw nil) of all.
func (m *Master) resendStraysLocked(a *agent, fw *framework) {
	for _, s := range a.strays {
		if (fw == nil || s.fw == fw) && len(s.pending) > 0 {
			m.sendPendingLocked(s)
		}
	}
}

// dropStraysLocked ends the agent's streams of tasks it does not know, of one framework
// or (fw nil) of all: the framework is shut down, the agent removed, or it restarted
// (the status update manager checkpoints no such stream, so a restart loses them).
func (m *Master) dropStraysLocked(a *agent, fw *framework) {
	for key, s := range a.strays {
		if fw == nil || s.fw == fw {
			m.dropPendingLocked(s)
			delete(a.strays, key)
		}
	}
}
