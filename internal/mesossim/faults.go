package mesossim

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// serveFaults injects faults over HTTP, for people and tests outside the process:
//
//	POST /faults/partition?agent=HOST    tasks UNREACHABLE (LOST if not partition-aware), offers rescinded, FAILURE event (PartitionAgent)
//	POST /faults/remove?agent=HOST       the agent marked gone: tasks GONE_BY_OPERATOR, the agent shut down (RemoveAgent)
//	POST /faults/drop-stream?framework=ID  closes the framework's event stream
//	POST /faults/restart-agent?agent=HOST  restarts the agent's process (RestartAgent)
//	POST /faults/heal?agent=HOST         ends a partition: the agent registers again (HealAgent)
//	POST /faults/kill-executor?agent=HOST&framework=ID&executor=ID  kills an executor process (KillExecutor)
//	POST /faults/duplicate-updates?on=true  sends every agent status update twice (DuplicateUpdates)
//	POST /faults/delay-updates?for=2s    holds agent status updates back for a while (DelayUpdates)
//	POST /faults/failover-master         the master fails over (FailoverMaster)
//	POST /faults/master-down, /faults/master-up  the master stops answering, then comes back failed over (SetDown)
//	POST /faults/delay-reregistration?for=10s[&agent=HOST...]  after a master failover, agents register only after a while (DelayReregistration)
//	POST /faults/reregister?agent=HOST   an agent waiting to register with a failed-over master registers now (ReregisterAgent)
//	POST /faults/reregistration-timeout?agent=HOST  such an agent is marked unreachable instead: FAILURE, no task update (ReregistrationTimeout)
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
	case "/faults/delay-reregistration":
		d, perr := time.ParseDuration(r.URL.Query().Get("for"))
		if perr != nil || d < 0 {
			http.Error(w, "for must be a duration such as 10s", http.StatusBadRequest)
			return
		}
		err = m.DelayReregistration(d, r.URL.Query()["agent"]...)
	case "/faults/reregister":
		err = m.ReregisterAgent(r.URL.Query().Get("agent"))
	case "/faults/reregistration-timeout":
		err = m.ReregistrationTimeout(r.URL.Query().Get("agent"))
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

// FailoverMaster restarts the leading master, as a master failover does (Mesos: a new
// leading master recovers the registry, src/master/master.cpp Master::_recover):
//
//   - every scheduler stream ends (no ERROR event), outstanding offers are dropped
//     without RESCIND, refuse filters with them (the new master's allocator starts
//     empty), and the master takes a new id (MasterInfo.id, a fresh UUID in
//     Master::Master, and the prefix of new ids);
//   - agents register again with their ids and tasks (Master::reregisterSlave,
//     __reregisterSlave for an agent recovered from the registry): at once, or, with
//     DelayReregistration, only after a while, being recovered agents meanwhile
//     (recovered.go); an unreachable agent stays unreachable (the registry keeps the
//     list), but the tasks the old master removed with it are forgotten
//     (Framework::unreachableTasks lives in memory only, MESOS-6785): a new task may
//     take the id of one;
//   - the new master knows a framework only through the tasks or executors (idle ones
//     too) its registered agents report (updateSlaveFrameworks, recoverFramework): a call of such a framework is
//     refused 403 until it subscribes again, of any other 400 (unknown framework), and a
//     framework removed before is forgotten (Master::frameworks.completed is not kept);
//   - a framework subscribing again with its id gets the same id and its tasks, and
//     its unacknowledged updates are sent again (Master::_subscribe,
//     connectAndActivateRecoveredFramework, sendFrameworkUpdates);
//   - the maintenance schedule and the machines' modes and unavailabilities are kept
//     (the registry has them); inverse offers and the answers to them are not
//     (failoverMaintenanceLocked);
//   - no failover timeout runs for a recovered framework: recoverFramework starts none,
//     so a framework that never subscribes again keeps its tasks (MESOS-4659); its
//     failover_timeout counts again only once it has subscribed and disconnected
//     (Master::_exited).
func (m *Master) FailoverMaster() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.id = uuid.NewString()
	m.nextFW = 0
	clear(m.roleChosen) // the new master's allocator counts from nothing
	m.recoverAgentsLocked()
	for _, o := range m.offers {
		m.recoverOfferLocked(o)
	}
	for id, fw := range m.frameworks {
		if fw.stream != nil {
			fw.stream.close()
			fw.stream = nil
		}
		clearFiltersLocked(fw, nil)
		if fw.failover != nil {
			fw.failover.Stop()
			fw.failover = nil
		}
		if fw.removed || len(fw.tasks) == 0 && !m.onAnyAgentLocked(fw) {
			delete(m.frameworks, id)
			continue
		}
		fw.unknown, fw.recovered = true, true
		fw.registered, fw.reregistered = time.Time{}, time.Time{}
		for _, a := range m.agents {
			if a.registered() && a.reports(fw) {
				fw.unknown = false
			}
		}
		for _, t := range fw.tasks {
			t.unreachable = false // not kept across a failover (MESOS-6785)
		}
	}
	m.failoverMaintenanceLocked()
}

// onAnyAgentLocked says whether an agent that may still register with the master (one
// not removed) reports the framework.
func (m *Master) onAnyAgentLocked(fw *framework) bool {
	for _, a := range m.agents {
		if !a.removed && a.reports(fw) {
			return true
		}
	}
	return false
}

// reports says whether the agent, registering with a master, tells it of the framework:
// it holds one of its tasks or runs one of its executors, idle or not (Mesos:
// src/slave/slave.cpp Slave::doReliableRegistration lists every framework the agent
// has, and the master recovers those it does not know, src/master/master.cpp
// updateSlaveFrameworks).
func (a *agent) reports(fw *framework) bool {
	for _, t := range fw.tasks {
		if t.agent == a {
			return true
		}
	}
	prefix := fw.id + "/"
	for key := range a.executors {
		if strings.HasPrefix(key, prefix) {
			return true
		}
	}
	for key := range a.runs {
		if strings.HasPrefix(key, prefix) {
			return true
		}
	}
	return false
}

// SetDown takes the master down (true) or brings it back (false), as a master process
// that stops and later starts again: while down, every connection to its API is closed
// unanswered and every framework's stream ends; it comes back as a failed-over master
// (FailoverMaster: frameworks keep their tasks). Agents and their tasks run on, as Mesos
// agents do while no master leads (Mesos: src/slave/slave.cpp Slave::detected: "Lost
// leading master", the agent pauses its status updates, keeps its executors, and
// registers again when a master is detected: at once, or as DelayReregistration says,
// counted from when the master is back). The fault endpoints and /state still answer,
// for tests.
func (m *Master) SetDown(down bool) {
	if m.down.Swap(down) == down {
		return
	}
	if !down {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.startReregistrationLocked()
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
// would, outside Mesos's control; the agent reports it as any executor's exit
// (executorTerminatedLocked; Mesos: src/slave/slave.cpp Slave::executorTerminated):
// FAILURE naming the executor with wait status 9, then its live tasks TASK_FAILED,
// REASON_EXECUTOR_TERMINATED, SOURCE_SLAVE, "Executor terminated".
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
