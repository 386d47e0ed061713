package mesossim

import (
	"errors"
	"net/http"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// Agent restarts: an agent process that stops and starts again with its work and meta
// directories kept, as a crash or an upgrade does (docs/agent-recovery.md, the default
// --recover=reconnect).

// RestartAgent restarts an agent's process. What follows is Mesos 1.12's, step by step:
//
//   - The master sees the agent's socket break (Mesos: src/master/master.cpp
//     Master::exited(const UPID&)): disconnect(Slave*) and deactivate(Slave*) rescind the
//     agent's offers; then, for each framework that does not checkpoint,
//     removeFramework(Slave*, Framework*) sends TASK_LOST, SOURCE_MASTER,
//     REASON_SLAVE_DISCONNECTED, "Agent <hostname> disconnected", with the executor id
//     (to every framework, PARTITION_AWARE or not) and removes the tasks from the master.
//   - The restarted agent recovers the checkpointing frameworks only (src/slave/slave.cpp
//     Slave::recover); the containerizer destroys the other executors' containers as
//     orphans (src/slave/containerizer/mesos/containerizer.cpp
//     MesosContainerizerProcess::__recover), and no one reports their exit.
//   - It serves its executor API again and waits --executor_reregistration_timeout
//     (Config.ExecutorReregistrationTimeout) for the executors it recovered to SUBSCRIBE
//     again, listing their unacknowledged tasks and updates (Slave::_recover,
//     Slave::subscribe); meanwhile other executor calls get 503 (src/slave/http.cpp
//     Http::executor). Slave::reregisterExecutorTimeout then kills the others: their
//     tasks end TASK_GONE (TASK_LOST if not PARTITION_AWARE),
//     REASON_EXECUTOR_REREGISTRATION_TIMEOUT, "Executor did not reregister within 2secs".
//   - Only then (Slave::__recover) does the agent look for the master and register
//     again (Master::reregisterSlave, ___reregisterSlave): it offers again, and the
//     updates it held (its status update manager is paused while disconnected) reach
//     the frameworks.
//
// AgentReady tells when the executor API serves again.
func (m *Master) RestartAgent(hostname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.restartableAgentLocked(hostname)
	if err != nil {
		return err
	}
	a.down = true
	a.ready = make(chan struct{})
	m.rescindOffersOfAgentLocked(a)
	m.loseUncheckpointedTasksLocked(a)
	m.dropStraysLocked(a, nil) // never checkpointed (streams.go)
	recovering := m.stopAgentExecutorsLocked(a) || m.hasCheckpointedTasksLocked(a)
	if a.srv != nil {
		srv := a.srv
		a.srv = nil
		go func() { _ = srv.Close() }() // ends the executors' streams
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.agentRestarted(a, recovering)
	}()
	return nil
}

// restartableAgentLocked finds the agent to restart; it fails when the master is closed,
// or the agent is unknown, not registered or restarting already.
func (m *Master) restartableAgentLocked(hostname string) (*agent, error) {
	select {
	case <-m.stop:
		return nil, errors.New("the master is closed")
	default:
	}
	a := m.agentByHostname(hostname)
	switch {
	case a == nil:
		return nil, noAgent(hostname)
	case !a.registered():
		return nil, &httpError{http.StatusConflict, "agent " + hostname + " is not registered"}
	case a.down || a.recovering:
		return nil, &httpError{http.StatusConflict, "agent " + hostname + " is restarting already"}
	}
	return a, nil
}

// loseUncheckpointedTasksLocked ends the tasks the master holds on a restarting agent
// for frameworks that do not checkpoint, as the master does when the agent disconnects
// (Mesos: src/master/master.cpp Master::removeFramework(Slave*, Framework*)): TASK_LOST
// from the master, and the task is forgotten (removeTask), so that a later
// reconciliation finds it unknown to the agent and its id is free. That includes a
// task that ended whose terminal update is not acknowledged yet: it gets the TASK_LOST
// too (its state stays as it ended, Master::updateTask), and the restarted agent, which
// checkpoints nothing of such a framework, never sends that update again.
func (m *Master) loseUncheckpointedTasksLocked(a *agent) {
	msg := "Agent " + a.hostname + " disconnected"
	for _, fw := range m.frameworks {
		if fw.info.GetCheckpoint() || fw.removed {
			continue
		}
		for id, t := range fw.tasks {
			if t.agent != a || !t.heldByMaster() {
				continue
			}
			if !isTerminal(t.state) {
				t.state = mesos.TASK_LOST
			}
			m.dropPendingLocked(t)
			m.releaseLocked(t)
			stopCommandLocked(t)
			taskUpdate(fw, t, mesos.TASK_LOST, mesos.REASON_AGENT_DISCONNECTED, msg)
			delete(fw.tasks, id)
		}
	}
}

// stopAgentExecutorsLocked keeps the executors of checkpointing frameworks, to wait for
// them to subscribe again, and kills the others without an exit report: the restarted
// agent does not know them. It says whether any executor is kept.
func (m *Master) stopAgentExecutorsLocked(a *agent) (recovering bool) {
	for key, run := range a.runs {
		if run.fw.info.GetCheckpoint() && !run.fw.removed {
			run.recovering, run.registered = true, false
			// What the agent held for the executor until it subscribed is gone with
			// its memory: it checkpointed those tasks, and recovers them as sent to
			// the executor (Executor::recoverTask puts them in launchedTasks).
			run.mu.Lock()
			run.queued = nil
			run.mu.Unlock()
			recovering = true
			continue
		}
		run.silent = true
		delete(a.runs, key)
		run.kill()
	}
	for key := range a.executors {
		if _, ok := a.runs[key]; !ok && !m.checkpointing(key) {
			releaseExecutorLocked(a, key)
		}
	}
	return recovering
}

// hasCheckpointedTasksLocked says whether a restarting agent runs live tasks of a
// framework that checkpoints: the restarted agent then recovers that framework.
func (m *Master) hasCheckpointedTasksLocked(a *agent) bool {
	for _, fw := range m.frameworks {
		if !fw.info.GetCheckpoint() || fw.removed {
			continue
		}
		for _, t := range fw.tasks {
			if t.agent == a && !isTerminal(t.state) {
				return true
			}
		}
	}
	return false
}

// agentRestarted brings a restarting agent back after agentRestartDelay: its executor
// API serves again on the same address. An agent that recovered no framework
// registers again at once; one that did waits ExecutorReregistrationTimeout whether or
// not its executors are back by then, as Mesos does (src/slave/slave.cpp
// Slave::_recover: only Slave::reregisterExecutorTimeout ends recovery, MESOS-7539).
func (m *Master) agentRestarted(a *agent, recovering bool) {
	select {
	case <-time.After(agentRestartDelay):
	case <-m.stop:
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if a.endpoint != "" && m.cfg.Exec {
		if err := m.serveAgentOn(a, a.endpoint); err != nil {
			m.log.Error(err, "Restarted agent cannot serve on its address", "agent", a.name())
			return
		}
	}
	a.down = false
	close(a.ready)
	if !recovering {
		m.agentReconnectedLocked(a)
		return
	}
	a.recovering = true
	time.AfterFunc(m.cfg.ExecutorReregistrationTimeout, func() { m.finishRecovery(a) })
}

// checkpointing says whether the framework of an agent's executor key checkpoints.
func (m *Master) checkpointing(key string) bool {
	fwID, _, _ := strings.Cut(key, "/")
	fw := m.frameworks[fwID]
	return fw != nil && !fw.removed && fw.info.GetCheckpoint()
}

// finishRecovery ends a restarted agent's wait for its executors (Mesos:
// src/slave/slave.cpp Slave::reregisterExecutorTimeout): those that have not subscribed
// again are destroyed, with a pending termination that ends their tasks TASK_GONE
// (TASK_LOST if not PARTITION_AWARE), REASON_EXECUTOR_REREGISTRATION_TIMEOUT; then the
// agent registers with the master again. The kill is reported once the process has
// exited, by then to a registered agent: FAILURE first, then the updates
// (executorTerminatedLocked).
func (m *Master) finishRecovery(a *agent) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !a.recovering {
		return
	}
	for _, run := range a.runs {
		if !run.recovering {
			continue
		}
		state := mesos.TASK_LOST
		if run.fw.partitionAware {
			state = mesos.TASK_GONE
		}
		run.termination = &termination{state: state, reason: mesos.REASON_EXECUTOR_REREGISTRATION_TIMEOUT,
			msg: "Executor did not reregister within " + mesosDuration(m.cfg.ExecutorReregistrationTimeout)}
		run.terminating = true
		run.kill()
	}
	a.recovering = false
	m.agentReconnectedLocked(a)
}

// agentReconnectedLocked sends the updates an agent held back while it was away (Mesos:
// Slave::reregistered resumes its status update manager).
func (m *Master) agentReconnectedLocked(a *agent) {
	for _, fw := range m.frameworks {
		for _, t := range fw.tasks {
			if t.agent == a && len(t.pending) > 0 {
				m.sendPendingLocked(t)
			}
		}
	}
	m.resendStraysLocked(a, nil)
}

// AgentReady is closed while the agent serves its executor API: at once, unless it
// is restarting (RestartAgent). Nil for an unknown agent.
func (m *Master) AgentReady(hostname string) <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a := m.agentByHostname(hostname); a != nil {
		return a.ready
	}
	return nil
}
