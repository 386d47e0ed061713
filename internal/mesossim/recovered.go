package mesossim

import (
	"net/http"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// Agents a failed-over master recovered from its registry and that have not registered
// with it again (Mesos: src/master/master.cpp Master::_recover puts every agent of the
// registry in slaves.recovered; Master::__reregisterSlave takes it out when the agent
// comes). Until then the master does not know the agent's tasks:
//
//   - it makes no offer of the agent, and drops what a framework sends it (an
//     acknowledgement, a KILL of one of its tasks, which goes through reconciliation, a
//     SHUTDOWN or MESSAGE for one of its executors);
//   - an implicit RECONCILE leaves its tasks out, and an explicit one does not answer for
//     a task naming the agent, nor for a task naming no agent while any agent is still
//     recovered (Master::reconcile, case 2): the framework has to ask again;
//   - GET_AGENTS lists it under recovered_agents, not agents (readonly_handler.cpp,
//     jsonifyGetAgents), and GET_EXECUTORS leaves its executors out;
//   - a framework whose tasks and executors are all on such agents (or unreachable ones)
//     is not known to the master until it subscribes or one of them registers
//     (updateSlaveFrameworks, recoverFramework).
//
// The agent itself runs on: its executors and tasks go on, and the status updates it
// takes wait in its status update manager, which sends them once it has registered
// (Slave::reregistered). Registering again brings the frameworks no update (only an
// agent the master took for unreachable or did not know gets REASON_AGENT_REREGISTERED
// updates). It is shut down if the operator marked it gone meanwhile (Master::markGone
// for a recovered agent sends no update: MESOS-9739).
//
// Mesos's master marks an agent that has not registered within --agent_reregister_timeout
// (10 minutes) unreachable (Master::recoveredSlavesTimeout); the sim waits however long
// DelayReregistration says, or until ReregistrationTimeout.

// DelayReregistration makes agents register with a master that failed over (FailoverMaster,
// or SetDown(false)) only d after it took over, instead of at once: each stays a recovered
// agent meanwhile (see above). It applies to the named agents (hostname, hostname:port or
// id), or to every agent when none is named, for every failover from now on; 0 ends it.
// ReregisterAgent ends one agent's wait early.
func (m *Master) DelayReregistration(d time.Duration, agents ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	targets := m.agents
	if len(agents) > 0 {
		targets = nil
		for _, name := range agents {
			a := m.agentByHostname(name)
			if a == nil {
				return noAgent(name)
			}
			targets = append(targets, a)
		}
	}
	for _, a := range targets {
		a.reregisterDelay = d
	}
	return nil
}

// ReregisterAgent makes a recovered agent register with the master now. It fails for an
// unknown agent, and with 409 for one that is not waiting to register.
func (m *Master) ReregisterAgent(hostname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.recoveredAgentLocked(hostname)
	if err != nil {
		return err
	}
	if a.shutDown {
		return &httpError{http.StatusConflict, "agent " + hostname + " was shut down and does not register again"}
	}
	return m.reregisterLocked(a)
}

// ReregistrationTimeout marks a recovered agent unreachable, as Mesos's master does with
// one that has not registered within --agent_reregister_timeout of its failover (Mesos:
// src/master/master.cpp Master::recoveredSlavesTimeout, markUnreachable and
// _markUnreachable during a master failover): the agent moves from the recovered agents
// to the unreachable ones, and every connected framework gets FAILURE naming it
// (sendSlaveLost), but no task update: the new master never knew its tasks, nor keeps
// them among the unreachable ones. Reconciliation then answers a task naming the agent
// TASK_UNREACHABLE; if the agent comes back (HealAgent) each task it reports is sent
// "Unreachable agent re-reregistered", and marked gone (RemoveAgent) it sends nothing.
// It fails for an unknown agent, and with 409 for one that is not waiting to register.
func (m *Master) ReregistrationTimeout(hostname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.recoveredAgentLocked(hostname)
	if err != nil {
		return err
	}
	a.recovered = false
	a.reregisterGen++ // its wait ends here
	a.gone, a.unreachable = true, time.Now()
	for _, fw := range m.frameworks {
		for _, t := range fw.tasks {
			if t.agent == a && t.heldByMaster() {
				// What the master will learn when the agent comes back (HealAgent); not
				// among the framework's unreachable tasks, which it never knew.
				t.state, t.unreachable = mesos.TASK_UNREACHABLE, false
			}
		}
	}
	for _, fw := range m.frameworks {
		fw.send(&scheduler.Event{Type: scheduler.Event_FAILURE, Failure: &scheduler.Event_Failure{AgentID: &mesos.AgentID{Value: a.id}}})
	}
	return nil
}

// recoverAgentsLocked starts a failover for the agents: those with a reregistration delay
// become recovered agents, and, unless the master is down, their wait starts.
func (m *Master) recoverAgentsLocked() {
	for _, a := range m.agents {
		a.reregisterGen++ // a wait of an earlier failover ends with it
		// An agent shut down (its machine DOWN) that was recovered stays so: it never comes.
		if a.gone || a.reregisterDelay <= 0 && !a.shutDown {
			a.recovered = false
			continue
		}
		a.recovered = true
	}
	if !m.down.Load() {
		m.startReregistrationLocked()
	}
}

// startReregistrationLocked starts the wait of each recovered agent, when the master
// (again) leads.
func (m *Master) startReregistrationLocked() {
	for _, a := range m.agents {
		if !a.recovered || a.shutDown {
			continue
		}
		a.reregisterGen++
		gen := a.reregisterGen
		time.AfterFunc(a.reregisterDelay, func() {
			select {
			case <-m.stop:
				return
			default:
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			if a.recovered && a.reregisterGen == gen {
				_ = m.reregisterLocked(a)
			}
		})
	}
}

// reregisterLocked is a recovered agent registering with the master again
// (Master::__reregisterSlave for an agent in slaves.recovered): the master takes its tasks
// back, knows the frameworks of its tasks and executors again, and the agent offers
// again and sends the updates it held. One whose machine is DOWN is refused and shuts
// down (Master::reregisterSlave), staying recovered: the error says so.
func (m *Master) reregisterLocked(a *agent) error {
	a.reregisterGen++
	if err := m.refuseOnDownMachineLocked(a); err != nil {
		return err
	}
	a.recovered = false
	m.agentRegisteredLocked(a)
	m.knowFrameworksOfLocked(a)
	m.agentReconnectedLocked(a)
	return nil
}

// knowFrameworksOfLocked is the master learning of the frameworks an agent that
// registers again reports, through their tasks or executors (updateSlaveFrameworks,
// recoverFramework).
func (m *Master) knowFrameworksOfLocked(a *agent) {
	for _, fw := range m.frameworks {
		if !fw.removed && a.reports(fw) {
			fw.unknown = false
		}
	}
}

// anyRecoveredLocked says whether an agent has not registered with the failed-over master yet.
func (m *Master) anyRecoveredLocked() bool {
	for _, a := range m.agents {
		if a.recovered {
			return true
		}
	}
	return false
}

// recoveredAgentLocked is the agent of hostname waiting to register with a failed-over
// master: an error for an unknown agent, and 409 for one that is not waiting.
func (m *Master) recoveredAgentLocked(hostname string) (*agent, error) {
	a := m.agentByHostname(hostname)
	switch {
	case a == nil:
		return nil, noAgent(hostname)
	case !a.recovered:
		return nil, &httpError{http.StatusConflict, "agent " + hostname + " is not waiting to register with a failed-over master"}
	}
	return a, nil
}
