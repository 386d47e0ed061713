package mesossim

import (
	"net/http"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// Agents cut off and back: a partition (the master marks the agent unreachable), its
// end (the agent registers again), and an agent the operator marks gone.

// Messages of the master's task updates when it loses an agent.
const (
	// msgUnreachable is why the agent's health checker marks a partitioned agent
	// unreachable (Mesos: src/master/master.cpp SlaveObserver::_markUnreachable).
	msgUnreachable = "health check timed out"
	// msgMarkedGone is Master::markGone's.
	msgMarkedGone = "Agent has been marked gone"
	// msgReregistered is Master::__reregisterSlave's for an unreachable agent.
	msgReregistered = "Unreachable agent re-reregistered"
)

// PartitionAgent cuts an agent off, as Mesos does when its pings go unanswered and it
// marks the agent unreachable (Mesos: src/master/master.cpp Master::markUnreachable,
// _markUnreachable, __removeSlave): each live task becomes TASK_UNREACHABLE,
// REASON_SLAVE_REMOVED, SOURCE_MASTER, "health check timed out", with the agent's
// unreachable_time and the task's executor id (TASK_LOST, with the same reason and
// unreachable_time, for a framework that is not PARTITION_AWARE); then the agent's
// offers are rescinded, and then every connected framework gets FAILURE naming the agent
// (sendSlaveLost), in that order. The agent runs on, cut off: its executors' exits and
// status updates reach no one (Master::exitedExecutor and statusUpdate drop those of a
// removed agent) until HealAgent.
func (m *Master) PartitionAgent(hostname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.reachableAgentLocked(hostname)
	if err != nil {
		return err
	}
	a.gone, a.unreachable = true, time.Now()
	m.removeAgentTasksLocked(a, false)
	return nil
}

// RemoveAgent removes an agent for good, as Mesos does for an agent the operator marks
// gone (Mesos: src/master/master.cpp Master::markGone). A registered agent's live tasks
// end TASK_GONE_BY_OPERATOR, REASON_SLAVE_REMOVED_BY_OPERATOR (TASK_LOST,
// REASON_SLAVE_REMOVED if not PARTITION_AWARE), SOURCE_MASTER, "Agent has been marked
// gone", without unreachable_time; its offers are rescinded, FAILURE names it, and the
// agent is told to shut down, which kills its executors and tasks unreported. The tasks
// of an agent that is unreachable already get the same update, but no RESCIND (it has no
// offers) and no FAILURE (markGone sends none), and only those the master keeps among
// the unreachable tasks (none after a master failover). An agent waiting to register
// with a failed-over master gets nothing: the master knows none of its tasks
// (MESOS-9739).
// Mesos refuses it when it tries to register again.
func (m *Master) RemoveAgent(hostname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.agentByHostname(hostname)
	switch {
	case a == nil:
		return noAgent(hostname)
	case a.removed:
		return &httpError{http.StatusConflict, "agent " + hostname + " was removed"}
	}
	wasGone, wasRecovered := a.gone, a.recovered
	a.gone, a.removed, a.recovered = true, true, false
	switch {
	case wasRecovered:
	case wasGone:
		m.endUnreachableTasksLocked(a)
	default:
		m.removeAgentTasksLocked(a, true)
	}
	m.shutdownAgentLocked(a)
	return nil
}

// reachableAgentLocked finds a registered agent to partition.
func (m *Master) reachableAgentLocked(hostname string) (*agent, error) {
	a := m.agentByHostname(hostname)
	switch {
	case a == nil:
		return nil, noAgent(hostname)
	case a.removed:
		return nil, &httpError{http.StatusConflict, "agent " + hostname + " was removed"}
	case a.gone:
		return nil, &httpError{http.StatusConflict, "agent " + hostname + " is partitioned already"}
	case a.recovered:
		// The master watches a registered agent's health only (SlaveObserver).
		return nil, &httpError{http.StatusConflict, "agent " + hostname + " has not registered with the failed-over master"}
	}
	return a, nil
}

// removeAgentTasksLocked is Master::__removeSlave for an agent marked unreachable or,
// with gone, marked gone: the tasks' updates, then RESCIND of its offers, then FAILURE.
func (m *Master) removeAgentTasksLocked(a *agent, gone bool) {
	for _, fw := range m.frameworks {
		state, reason, msg := mesos.TASK_UNREACHABLE, mesos.REASON_AGENT_REMOVED, msgUnreachable
		if gone {
			state, msg = mesos.TASK_GONE_BY_OPERATOR, msgMarkedGone
			if fw.partitionAware {
				reason = mesos.REASON_AGENT_REMOVED_BY_OPERATOR
			}
		}
		for _, t := range fw.tasks {
			// Every task the master holds for the agent, a terminal one whose update is
			// not acknowledged yet included (Slave::tasks).
			if t.agent != a || fw.removed || !t.heldByMaster() {
				continue
			}
			// The master removes the task (removeTask) and keeps it among the
			// framework's unreachable tasks, unless the agent was marked gone and the
			// framework is PARTITION_AWARE: then it is completed.
			t.state, t.unreachable = state, !gone || !fw.partitionAware
			st := taskStatus(fw, t, state, reason, msg)
			if !gone {
				st.UnreachableTime = a.unreachableTime()
			}
			fw.send(updateEvent(st))
		}
	}
	m.rescindOffersOfAgentLocked(a) // a lost agent takes their resources with it
	m.dropFiltersOfAgentLocked(a)
	for _, fw := range m.frameworks {
		fw.send(&scheduler.Event{Type: scheduler.Event_FAILURE, Failure: &scheduler.Event_Failure{AgentID: &mesos.AgentID{Value: a.id}}})
	}
}

// endUnreachableTasksLocked is Master::markGone for an agent that is unreachable: its
// unreachable tasks end TASK_GONE_BY_OPERATOR (TASK_LOST, REASON_SLAVE_REMOVED if not
// PARTITION_AWARE), without RESCIND or FAILURE. Only those the master keeps among the
// framework's unreachable tasks (slaves.unreachableTasks): not those of an agent it
// took for unreachable before a master failover, nor those of an agent that never
// registered with it (ReregistrationTimeout).
func (m *Master) endUnreachableTasksLocked(a *agent) {
	for _, fw := range m.frameworks {
		reason := mesos.REASON_AGENT_REMOVED
		if fw.partitionAware {
			reason = mesos.REASON_AGENT_REMOVED_BY_OPERATOR
		}
		for _, t := range fw.tasks {
			if t.agent == a && t.state == mesos.TASK_UNREACHABLE && t.unreachable {
				t.state, t.unreachable = mesos.TASK_GONE_BY_OPERATOR, false // completed
				fw.send(updateEvent(taskStatus(fw, t, t.state, reason, msgMarkedGone)))
			}
		}
	}
}

// shutdownAgentLocked stops what a removed agent runs, unreported: the master tells it
// to shut down (Master::markGone, or __reregisterSlave when it comes back), and the
// master ignores what a removed agent says (Master::exitedExecutor, statusUpdate).
func (m *Master) shutdownAgentLocked(a *agent) {
	for key, run := range a.runs {
		run.silent = true
		delete(a.runs, key)
		run.kill()
	}
	for _, fw := range m.frameworks {
		for _, t := range fw.tasks {
			if t.agent == a {
				stopCommandLocked(t)
				m.dropPendingLocked(t)
			}
		}
	}
	m.dropStraysLocked(a, nil)
}

// HealAgent ends an agent's partition: it registers again with its tasks (Mesos:
// src/master/master.cpp Master::reregisterSlave, _reregisterSlave, __reregisterSlave,
// for an agent in the unreachable list). Since Mesos 1.5 (CHANGELOG: MESOS-6406,
// MESOS-7215, MESOS-8337) every task the agent reports is recovered, PARTITION_AWARE
// framework or not, and each connected framework gets, per task, its latest state on
// the agent from the master: SOURCE_MASTER, REASON_SLAVE_REREGISTERED, "Unreachable agent
// re-reregistered", no uuid, with the executor id and the latest status's healthy,
// check_status and container_status (TASK_UNREACHABLE or TASK_LOST becomes TASK_RUNNING
// again; a task that ended meanwhile shows its terminal state). A framework the master
// forgot in a master failover is known again, through its tasks or executors on the
// agent (updateSlaveFrameworks, recoverFramework). The agent then offers again and sends
// the updates it held back. An agent removed with RemoveAgent cannot come back: Mesos
// refuses it ("Agent has been marked gone"). Nor can one whose machine is DOWN
// (maintenance.go): Mesos tells it to shut down ("Machine is `DOWN`"), it does, and the
// master keeps it unreachable; the error says so.
func (m *Master) HealAgent(hostname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.agentByHostname(hostname)
	switch {
	case a == nil:
		return noAgent(hostname)
	case a.removed:
		return &httpError{http.StatusConflict, "agent " + hostname + " was removed and may not register again"}
	case !a.gone:
		return &httpError{http.StatusConflict, "agent " + hostname + " is not partitioned"}
	case a.shutDown:
		return &httpError{http.StatusConflict, "agent " + hostname + " was shut down and does not register again"}
	}
	if err := m.refuseOnDownMachineLocked(a); err != nil {
		return err
	}
	a.gone = false
	free := a.total.clone()
	free.subtract(a.held)
	for _, e := range a.executors {
		free.subtract(fromResources(e.Resources))
	}
	for _, fw := range m.frameworks {
		for _, t := range fw.tasks {
			if t.agent != a {
				continue
			}
			t.unreachable = false // reachable again (__reregisterSlave)
			if t.state == mesos.TASK_UNREACHABLE {
				m.recoverTaskLocked(fw, t)
			}
			if !isTerminal(t.state) {
				free.subtract(t.res)
			}
		}
	}
	a.free = free
	m.agentRegisteredLocked(a)
	m.knowFrameworksOfLocked(a)
	m.agentReconnectedLocked(a)
	return nil
}

// recoverTaskLocked takes back a task of an agent that registers again, with its state
// on the agent, and tells its framework.
func (m *Master) recoverTaskLocked(fw *framework, t *task) {
	fw.unknown = false
	t.state = mesos.TASK_STAGING
	if t.last.State != nil {
		t.state = t.last.GetState()
	}
	if fw.removed {
		return
	}
	st := taskStatus(fw, t, t.state, mesos.REASON_AGENT_REREGISTERED, msgReregistered)
	st.Healthy, st.CheckStatus, st.ContainerStatus = t.last.Healthy, t.last.CheckStatus, t.containerStatus
	fw.send(updateEvent(st))
}
