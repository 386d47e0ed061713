package mesossim

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// serveFaults injects faults over HTTP, for people and tests outside the process:
//
//	POST /faults/partition?agent=HOST    tasks UNREACHABLE (LOST if not partition-aware), offers rescinded, FAILURE event
//	POST /faults/remove?agent=HOST       as partition, but tasks GONE_BY_OPERATOR
//	POST /faults/drop-stream?framework=ID  closes the framework's event stream
//	POST /faults/restart-agent?agent=HOST  restarts the agent's process (RestartAgent)
//	POST /faults/heal?agent=HOST         ends a partition: the agent registers again (HealAgent)
//	POST /faults/kill-executor?agent=HOST&framework=ID&executor=ID  kills an executor process (KillExecutor)
//	POST /faults/duplicate-updates?on=true  sends every agent status update twice (DuplicateUpdates)
//	POST /faults/delay-updates?for=2s    holds agent status updates back for a while (DelayUpdates)
//	POST /faults/failover-master         the master fails over (FailoverMaster)
//	POST /faults/fail-accepts?n=1&processed=true  the next n ACCEPTs are answered 503, after being applied if processed (FailAccepts)
//
// Unknown faults and unknown agents, frameworks or executors are answered 404; a fault
// that does not apply to the target's state (e.g. healing an agent that is not
// partitioned) 409.
func (m *Master) serveFaults(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "Expecting a 'POST' request", http.StatusMethodNotAllowed)
		return
	}
	var err error
	switch r.URL.Path {
	case "/faults/partition":
		err = m.PartitionAgent(r.URL.Query().Get("agent"))
	case "/faults/remove":
		err = m.RemoveAgent(r.URL.Query().Get("agent"))
	case "/faults/heal":
		err = m.HealAgent(r.URL.Query().Get("agent"))
	case "/faults/kill-executor":
		q := r.URL.Query()
		err = m.KillExecutor(q.Get("agent"), q.Get("framework"), q.Get("executor"))
	case "/faults/duplicate-updates":
		on, perr := strconv.ParseBool(r.URL.Query().Get("on"))
		if perr != nil {
			http.Error(w, "on must be true or false", http.StatusBadRequest)
			return
		}
		m.DuplicateUpdates(on)
	case "/faults/delay-updates":
		d, perr := time.ParseDuration(r.URL.Query().Get("for"))
		if perr != nil || d < 0 {
			http.Error(w, "for must be a duration such as 2s", http.StatusBadRequest)
			return
		}
		m.DelayUpdates(d)
	case "/faults/fail-accepts":
		n, perr := strconv.Atoi(r.URL.Query().Get("n"))
		if perr != nil || n < 0 {
			http.Error(w, "n must be a count of calls", http.StatusBadRequest)
			return
		}
		m.FailAccepts(n, r.URL.Query().Get("processed") == "true")
	case "/faults/failover-master":
		m.FailoverMaster()
	case "/faults/master-down":
		m.SetDown(true)
	case "/faults/master-up":
		m.SetDown(false)
	case "/faults/restart-agent":
		err = m.RestartAgent(r.URL.Query().Get("agent"))
	case "/faults/drop-stream":
		id := r.URL.Query().Get("framework")
		m.mu.Lock()
		_, ok := m.frameworks[id]
		m.mu.Unlock()
		if !ok {
			err = fmt.Errorf("no framework %q", id)
		} else {
			m.DropStream(id)
		}
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		code := http.StatusNotFound
		var he *httpError
		if errors.As(err, &he) {
			code = he.code
		}
		http.Error(w, err.Error(), code)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// RestartAgent restarts an agent's process, as an operator upgrading Mesos or a crash
// would (docs/agent-recovery.md). The master sees the agent disconnect: its offers are
// rescinded, and the tasks of frameworks that do not checkpoint end TASK_LOST,
// REASON_AGENT_DISCONNECTED from the master (master.cpp: Master::exited, removeFramework)
// while their executors are killed without an exit report, since the restarted agent
// does not know them. The agent's executor API goes away and comes back on the same
// address shortly after (AgentReady tells when). Executors of checkpointing frameworks
// keep running and must SUBSCRIBE again within Config.ExecutorReregistrationTimeout,
// listing their unacknowledged tasks and updates; the updates are passed on to the
// framework. Executors that do not are killed and their tasks end TASK_GONE (TASK_LOST
// if not PARTITION_AWARE), REASON_EXECUTOR_REREGISTRATION_TIMEOUT (slave.cpp:
// reregisterExecutorTimeout). The agent then registers again and offers again; until
// then updates from it are held back and non-SUBSCRIBE executor calls get 503.
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
	recovering := m.stopAgentExecutorsLocked(a)
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
	case a.gone:
		return nil, &httpError{http.StatusConflict, "agent " + hostname + " is not registered"}
	case a.down || a.recovering:
		return nil, &httpError{http.StatusConflict, "agent " + hostname + " is restarting already"}
	}
	return a, nil
}

// loseUncheckpointedTasksLocked ends the live tasks on a restarting agent of frameworks
// that do not checkpoint: the master reports them TASK_LOST, REASON_AGENT_DISCONNECTED.
func (m *Master) loseUncheckpointedTasksLocked(a *agent) {
	msg := "Agent " + a.hostname + " disconnected" // removeFramework(Slave*, Framework*): the hostname
	for _, fw := range m.frameworks {
		if fw.info.GetCheckpoint() || fw.removed {
			continue
		}
		for _, t := range fw.tasks {
			if t.agent == a && !isTerminal(t.state) {
				t.state = mesos.TASK_LOST
				m.dropPendingLocked(t)
				m.releaseLocked(t)
				stopCommandLocked(t)
				taskUpdate(fw, t, mesos.TASK_LOST, mesos.REASON_AGENT_DISCONNECTED, msg)
			}
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

// agentRestarted brings a restarting agent back after agentRestartDelay: its executor
// API serves again on the same address. Without executors to wait for it registers
// again at once; else it recovers until ExecutorReregistrationTimeout.
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

// finishRecovery ends a restarted agent's wait for its executors: those that have not
// subscribed again are killed, and the agent registers with the master again.
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

// agentReconnectedLocked sends the updates an agent held back while it was away.
func (m *Master) agentReconnectedLocked(a *agent) {
	for _, fw := range m.frameworks {
		for _, t := range fw.tasks {
			if t.agent == a && len(t.pending) > 0 {
				m.sendPendingLocked(t)
			}
		}
	}
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

// FailoverMaster restarts the leading master, as a master failover does: every
// scheduler stream ends (no ERROR event), outstanding offers are dropped without
// RESCIND, and the master takes a new id (MasterInfo.id and the prefix of new ids).
// Agents register again at once with their ids and tasks. The new master knows a
// framework only through its tasks: a call of a framework that has some is refused 403
// until it subscribes again, of one that has none 400 (unknown framework), and a
// framework known before as removed is forgotten. A framework subscribing again with its
// id within its failover_timeout gets the same id and its tasks, and its unacknowledged
// updates are sent again; the timeout counts from the failover. (Mesos does not keep
// failover timeouts across a failover, MESOS-4659: there, such a framework is never
// removed.)
func (m *Master) FailoverMaster() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.id = uuid.NewString()
	m.nextFW = 0
	for _, o := range m.offers {
		m.recoverOfferLocked(o)
	}
	for id, fw := range m.frameworks {
		if fw.stream != nil {
			fw.stream.close()
			fw.stream = nil
		}
		if fw.failover != nil {
			fw.failover.Stop()
			fw.failover = nil
		}
		if fw.removed || len(fw.tasks) == 0 {
			delete(m.frameworks, id)
			continue
		}
		m.startFailoverTimerLocked(fw)
	}
}

// SetDown takes the master down (true) or brings it back (false), as a master process
// that stops and later starts again: while down, every connection to its API is closed
// unanswered and every framework's stream ends (as FailoverMaster: frameworks keep their
// tasks until their failover timeout); agents and their tasks run on, as Mesos agents do
// while no master leads (src/slave/slave.cpp keeps running executors through a master's
// absence and re-registers when a master is detected). The fault endpoints and /state
// still answer, for tests.
func (m *Master) SetDown(down bool) {
	if m.down.Swap(down) == down || !down {
		return
	}
	m.FailoverMaster()
}

// unlessDown serves h while the master is up, and closes every connection to the
// Mesos APIs unanswered while it is down.
func (m *Master) unlessDown(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.down.Load() && !strings.HasPrefix(r.URL.Path, "/faults/") && r.URL.Path != "/state" {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					_ = conn.Close()
					return
				}
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// KillExecutor kills an executor's process (exec mode), as a crash or the OOM killer
// would: its live tasks end TASK_FAILED, REASON_EXECUTOR_TERMINATED, "Executor
// terminated", from the agent (slave.cpp: Slave::executorTerminated,
// sendExecutorTerminatedStatusUpdate), and the framework gets FAILURE naming the
// executor with its wait status (master.cpp: Master::exitedExecutor).
func (m *Master) KillExecutor(hostname, frameworkID, executorID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.agentByHostname(hostname)
	if a == nil {
		return noAgent(hostname)
	}
	run := a.runs[frameworkID+"/"+executorID]
	if run == nil {
		return &httpError{http.StatusNotFound, fmt.Sprintf("no executor %q of framework %q on agent %s", executorID, frameworkID, hostname)}
	}
	run.kill()
	return nil
}

// HealAgent ends an agent's partition: it registers again with its tasks, as an
// unreachable agent that reregisters does in Mesos 1.5 and later (master.cpp:
// _reregisterSlave; CHANGELOG, MESOS-7215). Its tasks are recovered for every framework,
// PARTITION_AWARE or not (Mesos before 1.5 killed those of other frameworks), and each
// connected framework gets an update with the task's latest state from the master
// (SOURCE_MASTER, REASON_AGENT_REREGISTERED, no uuid): TASK_UNREACHABLE becomes
// TASK_RUNNING again, and a framework that saw TASK_LOST sees the task run. Updates
// the agent held back follow, and the agent offers again. An agent removed with
// RemoveAgent cannot come back: Mesos refuses it.
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
	}
	a.gone = false
	free := a.total.clone()
	free.subtract(a.held)
	for _, e := range a.executors {
		free.subtract(fromResources(e.Resources))
	}
	msg := "Unreachable agent re-reregistered"
	for _, fw := range m.frameworks {
		for _, t := range fw.tasks {
			if t.agent != a {
				continue
			}
			if t.state == mesos.TASK_UNREACHABLE {
				t.state = mesos.TASK_STAGING
				if t.last.State != nil {
					t.state = t.last.GetState()
				}
				if !fw.removed {
					st := taskStatus(fw, t, t.state, mesos.REASON_AGENT_REREGISTERED, msg)
					st.ContainerStatus = t.last.ContainerStatus
					fw.send(updateEvent(st))
				}
			}
			if !isTerminal(t.state) {
				free.subtract(t.res)
			}
		}
	}
	a.free = free
	m.agentReconnectedLocked(a)
	return nil
}

// DuplicateUpdates makes every agent status update reach the framework twice, with the
// same uuid, as Mesos's at-least-once delivery may.
func (m *Master) DuplicateUpdates(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.duplicateUpdates = on
}

// FailAccepts answers the next n ACCEPT calls with 503 Service Unavailable. With processed
// each is applied first, as when the master got the call and its answer was lost (a
// connection that broke): the scheduler cannot tell whether its tasks were launched.
func (m *Master) FailAccepts(n int, processed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failAccepts, m.failAcceptsProcessed = n, processed
}

// DelayUpdates holds every agent status update queued from now on for d before it is
// sent (0 ends the delay). Updates of a task still arrive in order.
func (m *Master) DelayUpdates(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.updateDelay = d
}
