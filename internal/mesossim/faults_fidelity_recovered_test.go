package mesossim

import (
	"net/http"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mastercalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// Fidelity of a master failover whose agents take a while to register with the new
// master (DelayReregistration): until then each is a recovered agent (Mesos:
// src/master/master.cpp Master::_recover, slaves.recovered).

// recoveredScene is a PARTITION_AWARE framework with task t1 running on agent-1 and t2
// on agent-2, both acknowledged, after a master failover in which agent-1 has not
// registered again (its delay is long) and agent-2 has; the framework has subscribed to
// the new master.
func recoveredScene(t *testing.T) (m *Master, s *sched, agent1, agent2 mesos.AgentID) {
	t.Helper()
	m = startSim(t, Config{Agents: 2, UpdateRetry: time.Minute})
	if err := m.DelayReregistration(time.Hour, "agent-1"); err != nil {
		t.Fatal(err)
	}
	s = newSched(t, m)
	fi := aware(true, true)
	s.subscribe(fi)
	o1, o2 := bothOffers(s)
	s.launch(o1, simExecutor("e1"), "t1")
	s.waitState("t1", mesos.TASK_RUNNING)
	s.launch(o2, simExecutor("e1"), "t2")
	s.waitState("t2", mesos.TASK_RUNNING)
	m.FailoverMaster()
	s.streamClosed()
	s.subscribe(fi)
	return m, s, o1.AgentID, o2.AgentID
}

// reconcileUntilMarker sends RECONCILE for tasks (task id → agent id, "" for none) and a
// marker task unknown on agent (case 3, TASK_GONE), and returns the UPDATEs that came
// before the marker's answer.
func reconcileUntilMarker(s *sched, marker string, agent mesos.AgentID, tasks map[string]string) map[string]*mesos.TaskStatus {
	s.t.Helper()
	var rts []scheduler.Call_Reconcile_Task
	for id, a := range tasks {
		rt := scheduler.Call_Reconcile_Task{TaskID: mesos.TaskID{Value: id}}
		if a != "" {
			rt.AgentID = &mesos.AgentID{Value: a}
		}
		rts = append(rts, rt)
	}
	rts = append(rts, scheduler.Call_Reconcile_Task{TaskID: mesos.TaskID{Value: marker}, AgentID: &agent})
	s.mustCall(&scheduler.Call{Type: scheduler.Call_RECONCILE, Reconcile: &scheduler.Call_Reconcile{Tasks: rts}})
	before, e := s.eventsUntil(marker, updateOf(marker))
	if st := e.GetUpdate().Status; st.GetState() != mesos.TASK_GONE {
		s.t.Fatalf("marker %s: %v, want TASK_GONE", marker, st)
	}
	out := map[string]*mesos.TaskStatus{}
	for _, e := range before {
		if e.Type != scheduler.Event_UPDATE {
			s.t.Fatalf("before the marker: %v", e)
		}
		st := e.GetUpdate().Status
		out[st.TaskID.Value] = &st
	}
	return out
}

// Mesos: src/master/master.cpp Master::reconcile. The master holds no task of an agent
// it recovered from the registry: an implicit reconciliation leaves them out; an explicit
// one answers nothing for a task naming such an agent, nor for a task naming no agent
// while any agent is recovered (case 2); a task naming a registered agent is answered
// (cases 1 and 3). Master::kill of a task it does not hold goes through the same path.
// readonly_handler.cpp jsonifyGetAgents lists the agent under recovered_agents. Once it
// registers (Master::__reregisterSlave for a recovered agent) the framework gets no
// update, and the master holds its tasks again.
func TestFidelityRecoveredAgentAfterMasterFailover(t *testing.T) {
	m, s, agent1, agent2 := recoveredScene(t)

	r := operatorCall(t, m.URL(), mediaProtobuf, mastercalls.GetAgents()).GetAgents
	if len(r.Agents) != 1 || r.Agents[0].AgentInfo.GetID().GetValue() != agent2.Value {
		t.Fatalf("GET_AGENTS agents %v, want agent-2 alone", r.Agents)
	}
	if len(r.RecoveredAgents) != 1 || r.RecoveredAgents[0].GetID().GetValue() != agent1.Value || r.RecoveredAgents[0].Hostname != "agent-1" ||
		scalars(r.RecoveredAgents[0].Resources)["cpus"] != 4 {
		t.Fatalf("GET_AGENTS recovered_agents %v, want agent-1 with its resources", r.RecoveredAgents)
	}
	if ex := operatorCall(t, m.URL(), mediaProtobuf, mastercalls.GetExecutors()).GetExecutors; len(ex.Executors) != 1 || ex.Executors[0].AgentID != agent2 {
		t.Fatalf("GET_EXECUTORS %v, want agent-2's executor alone", ex.Executors)
	}

	// Implicit: t2 alone.
	s.mustCall(calls.Reconcile(calls.ReconcileTasks(nil)))
	got := reconcileUntilMarker(s, "marker-1", agent2, nil)
	if len(got) != 1 || got["t2"].GetState() != mesos.TASK_RUNNING {
		t.Fatalf("implicit reconciliation: %v, want t2 RUNNING alone", got)
	}
	// Explicit: nothing for t1 (named on agent-1, or on no agent), nor for an unknown
	// task on no agent; t2 answered.
	got = reconcileUntilMarker(s, "marker-2", agent2, map[string]string{"t1": agent1.Value, "t1-no-agent": "", "t2": agent2.Value})
	if len(got) != 1 || got["t2"].GetState() != mesos.TASK_RUNNING || got["t2"].GetReason() != mesos.REASON_RECONCILIATION {
		t.Fatalf("explicit reconciliation: %v, want t2 RUNNING alone", got)
	}
	s.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"t1": ""})))
	s.mustCall(calls.Kill("t1", agent1.Value))
	if got := reconcileUntilMarker(s, "marker-3", agent2, nil); len(got) != 0 {
		t.Fatalf("after RECONCILE of t1 with no agent, and KILL of t1: %v, want no answer", got)
	}

	if err := m.ReregisterAgent("agent-1"); err != nil {
		t.Fatal(err)
	}
	got = reconcileUntilMarker(s, "marker-4", agent2, map[string]string{"t1": agent1.Value})
	if len(got) != 1 || got["t1"].GetState() != mesos.TASK_RUNNING || got["t1"].GetReason() != mesos.REASON_RECONCILIATION {
		t.Fatalf("once agent-1 registered: %v, want t1 RUNNING (the KILL was dropped) and no update of its registration", got)
	}
	if r := operatorCall(t, m.URL(), mediaProtobuf, mastercalls.GetAgents()).GetAgents; len(r.Agents) != 2 || len(r.RecoveredAgents) != 0 {
		t.Fatalf("GET_AGENTS once agent-1 registered: %d agents, %d recovered; want 2, 0", len(r.Agents), len(r.RecoveredAgents))
	}
	if err := m.ReregisterAgent("agent-1"); statusOf(err) != http.StatusConflict {
		t.Fatalf("ReregisterAgent of a registered agent: %v, want 409", err)
	}
}

// Mesos: the agent's status update manager holds the updates it takes until the agent has
// registered with the new master (Slave::reregistered resumes it), and Master::acknowledge
// drops an acknowledgement for an agent that is not registered; the agent makes no offer
// meanwhile. The wait ends on its own after the delay.
func TestFidelityRecoveredAgentHoldsItsUpdates(t *testing.T) {
	m := startSim(t, Config{Agents: 1, UpdateRetry: time.Minute})
	if err := m.DelayReregistration(time.Second); err != nil {
		t.Fatal(err)
	}
	s := newSched(t, m)
	s.subscribe(info())
	o := s.offer("")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(finishing("t1", o, "500ms"))}.WithOffers(o.ID)))
	s.waitState("t1", mesos.TASK_RUNNING)
	m.FailoverMaster()
	s.streamClosed()
	s.subscribe(info())
	start := time.Now()
	s.noOffer(700*time.Millisecond, "agent-1 has not registered")
	if st := m.State(); !st.Agents[0].Recovered || st.Agents[0].Active || st.Frameworks[0].Tasks[0].State != "TASK_FINISHED" {
		t.Fatalf("before agent-1 registers: %+v, want it recovered, t1 finished on it", st)
	}
	finished := s.nextMatching("t1 FINISHED", updateOf("t1", mesos.TASK_FINISHED)).GetUpdate().Status
	if waited := time.Since(start); waited < 250*time.Millisecond || finished.GetSource() != mesos.SOURCE_EXECUTOR || len(finished.UUID) == 0 {
		t.Fatalf("t1's FINISHED %v came %v after subscribing, want the executor's once agent-1 registered (1s after the failover)", finished, waited)
	}
	s.offer("agent-1")
}

// Mesos: after a master failover, a framework whose tasks are all on recovered agents is
// unknown to the master (400) until it subscribes or one of the agents registers
// (updateSlaveFrameworks, recoverFramework: then 403, known but not subscribed).
// Marking a recovered agent gone sends nothing (Master::markGone has no task of it,
// MESOS-9739); its tasks are then gone (reconciliation case 5).
func TestFidelityFrameworkKnownOnceItsRecoveredAgentRegisters(t *testing.T) {
	m := startSim(t, Config{Agents: 2, UpdateRetry: time.Minute})
	if err := m.DelayReregistration(time.Hour, "agent-1"); err != nil {
		t.Fatal(err)
	}
	s := newSched(t, m)
	s.subscribe(aware(true, true))
	o := s.offer("agent-1")
	agent2 := mesos.AgentID{Value: m.State().Agents[1].ID}
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(taskOn("t1", o.AgentID, 0.5))}.WithOffers(o.ID)))
	s.waitState("t1", mesos.TASK_RUNNING)
	s.mu.Lock()
	stream := s.streamID
	s.mu.Unlock()
	m.FailoverMaster()
	s.streamClosed()
	revive := func() int {
		return post(t, m.URL(), mediaProtobuf, "", stream, marshal(t, calls.Revive().With(calls.Framework(s.id)))).StatusCode
	}
	if got := revive(); got != http.StatusBadRequest {
		t.Fatalf("call of a framework whose agent has not registered = %d, want 400", got)
	}
	// GET_FRAMEWORKS lists the frameworks the master knows: not this one yet.
	if fws := operatorCall(t, m.URL(), mediaProtobuf, mastercalls.GetFrameworks()).GetFrameworks; len(fws.Frameworks) != 0 {
		t.Fatalf("GET_FRAMEWORKS before the framework's agent registered = %+v, want none", fws.Frameworks)
	}
	if err := m.PartitionAgent("agent-1"); statusOf(err) != http.StatusConflict {
		t.Fatalf("PartitionAgent of a recovered agent: %v, want 409", err)
	}
	if err := m.ReregisterAgent("agent-1"); err != nil {
		t.Fatal(err)
	}
	if got := revive(); got != http.StatusForbidden {
		t.Fatalf("call of a framework its agent reported, not subscribed = %d, want 403", got)
	}
	// Now listed, recovered (master.proto: GetFrameworks.Framework.recovered), with the
	// FrameworkInfo the agent reported, and neither connected nor active.
	fws := operatorCall(t, m.URL(), mediaProtobuf, mastercalls.GetFrameworks()).GetFrameworks
	if len(fws.Frameworks) != 1 || fws.Frameworks[0].FrameworkInfo.GetID().GetValue() != s.id ||
		!fws.Frameworks[0].Recovered || fws.Frameworks[0].Connected || fws.Frameworks[0].Active {
		t.Fatalf("GET_FRAMEWORKS once the framework's agent registered = %+v, want it recovered, not connected", fws.Frameworks)
	}
	s.subscribe(aware(true, true))
	fws = operatorCall(t, m.URL(), mediaProtobuf, mastercalls.GetFrameworks()).GetFrameworks
	if len(fws.Frameworks) != 1 || fws.Frameworks[0].Recovered || !fws.Frameworks[0].Connected {
		t.Fatalf("GET_FRAMEWORKS once the framework subscribed = %+v, want it connected, not recovered", fws.Frameworks)
	}

	// Another failover: agent-1 is recovered again, and marked gone.
	m.FailoverMaster()
	s.streamClosed()
	s.subscribe(aware(true, true))
	if err := m.RemoveAgent("agent-1"); err != nil {
		t.Fatal(err)
	}
	got := reconcileUntilMarker(s, "marker", agent2, map[string]string{"t1": o.AgentID.Value})
	if len(got) != 1 || got["t1"].GetState() != mesos.TASK_GONE_BY_OPERATOR || got["t1"].GetReason() != mesos.REASON_RECONCILIATION {
		t.Fatalf("after marking the recovered agent gone: %v, want only the answer for t1, TASK_GONE_BY_OPERATOR", got)
	}
}

// A master outage: agents with a reregistration delay wait it out from when the master
// is back, not from when it went down; the fault is also reachable over HTTP.
func TestDelayReregistrationOverHTTP(t *testing.T) {
	m := startSim(t, Config{Agents: 2})
	for path, want := range map[string]int{
		"/faults/delay-reregistration?for=soon":                  http.StatusBadRequest,
		"/faults/delay-reregistration?for=1s&agent=nowhere":      http.StatusNotFound,
		"/faults/reregister?agent=agent-1":                       http.StatusConflict,
		"/faults/delay-reregistration?for=600ms&agent=agent-1":   http.StatusAccepted,
		"/faults/delay-reregistration?for=0&agent=agent-2":       http.StatusAccepted,
		"/faults/reregister?agent=nowhere":                       http.StatusNotFound,
		"/faults/reregistration-timeout?agent=agent-1":           http.StatusConflict,
		"/faults/reregistration-timeout?agent=nowhere":           http.StatusNotFound,
		"/faults/delay-reregistration?for=-1s&agent=agent-1&x=1": http.StatusBadRequest,
	} {
		if got := faultOverHTTP(t, m, path); got != want {
			t.Errorf("POST %s = %d, want %d", path, got, want)
		}
	}
	recovered := func() (out []bool) {
		for _, a := range m.State().Agents {
			out = append(out, a.Recovered)
		}
		return out
	}
	m.SetDown(true)
	time.Sleep(800 * time.Millisecond)
	m.SetDown(false)
	if got := recovered(); !got[0] || got[1] {
		t.Fatalf("just after the master is back: recovered %v, want agent-1 alone", got)
	}
	time.Sleep(900 * time.Millisecond)
	if got := recovered(); got[0] {
		t.Fatalf("600ms after the master is back: recovered %v, want none", got)
	}
	m.FailoverMaster()
	if got := faultOverHTTP(t, m, "/faults/reregister?agent=agent-1"); got != http.StatusAccepted {
		t.Fatalf("reregister a recovered agent = %d, want 202", got)
	}
	if got := recovered(); got[0] {
		t.Fatalf("after /faults/reregister: recovered %v, want none", got)
	}
	m.FailoverMaster()
	if got := faultOverHTTP(t, m, "/faults/reregistration-timeout?agent=agent-1"); got != http.StatusAccepted {
		t.Fatalf("reregistration timeout of a recovered agent = %d, want 202", got)
	}
	if a := m.State().Agents[0]; a.Recovered || a.Active {
		t.Fatalf("after /faults/reregistration-timeout: %+v, want agent-1 unreachable", a)
	}
}

// Mesos: src/master/master.cpp Master::recoveredSlavesTimeout marks an agent that has not
// registered with the new master within --agent_reregister_timeout unreachable
// (markUnreachable during the master failover, _markUnreachable): it moves from the
// recovered agents to the unreachable ones and sendSlaveLost sends every framework
// FAILURE, with no task update, as the new master never knew its tasks. Reconciliation
// then answers a task naming the agent TASK_UNREACHABLE with the time (case 4), one
// naming no agent TASK_UNKNOWN (case 6), and GET_AGENTS lists the agent nowhere. When it
// comes back (__reregisterSlave for an unreachable agent) each task it reports is sent
// "Unreachable agent re-reregistered"; marked gone instead, it sends nothing, as
// markGone knows no unreachable task of it.
func TestFidelityRecoveredAgentTimesOut(t *testing.T) {
	for _, heal := range []bool{true, false} {
		m, s, agent1, agent2 := recoveredScene(t)
		start := time.Now()
		if err := m.ReregistrationTimeout("agent-1"); err != nil {
			t.Fatal(err)
		}
		before, failure := s.eventsUntil("FAILURE", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_FAILURE })
		if f := failure.GetFailure(); len(before) != 0 || f.GetAgentID().GetValue() != agent1.Value || f.ExecutorID != nil {
			t.Fatalf("after the timeout: %v, then FAILURE %v; want FAILURE naming agent-1 alone", before, f)
		}
		got := reconcileUntilMarker(s, "marker-1", agent2, map[string]string{"t1": agent1.Value})
		st := got["t1"]
		ut := time.Unix(0, st.GetUnreachableTime().GetNanoseconds())
		if len(got) != 1 || st.GetState() != mesos.TASK_UNREACHABLE || st.GetReason() != mesos.REASON_RECONCILIATION ||
			ut.Before(start.Add(-time.Second)) || ut.After(time.Now()) {
			t.Fatalf("reconciliation of t1 on agent-1: %v, want TASK_UNREACHABLE since the timeout", got)
		}
		if got := reconcileUntilMarker(s, "marker-2", agent2, map[string]string{"t1": ""}); len(got) != 1 || got["t1"].GetState() != mesos.TASK_UNKNOWN {
			t.Fatalf("reconciliation of t1 on no agent: %v, want TASK_UNKNOWN", got)
		}
		if r := operatorCall(t, m.URL(), mediaProtobuf, mastercalls.GetAgents()).GetAgents; len(r.Agents) != 1 || len(r.RecoveredAgents) != 0 {
			t.Fatalf("GET_AGENTS after the timeout: %d agents, %d recovered; want agent-2 alone", len(r.Agents), len(r.RecoveredAgents))
		}
		if err := m.ReregistrationTimeout("agent-1"); statusOf(err) != http.StatusConflict {
			t.Fatalf("ReregistrationTimeout of an unreachable agent: %v, want 409", err)
		}

		if !heal {
			if err := m.RemoveAgent("agent-1"); err != nil {
				t.Fatal(err)
			}
			if got := reconcileUntilMarker(s, "marker-3", agent2, nil); len(got) != 0 {
				t.Fatalf("after marking agent-1 gone: %v, want no update", got)
			}
			continue
		}
		if err := m.HealAgent("agent-1"); err != nil {
			t.Fatal(err)
		}
		back := s.nextMatching("t1 back", updateOf("t1")).GetUpdate().Status
		if back.GetState() != mesos.TASK_RUNNING || back.GetReason() != mesos.REASON_AGENT_REREGISTERED || back.GetMessage() != msgReregistered {
			t.Fatalf("when agent-1 came back: %v, want t1 RUNNING, re-registered", back)
		}
	}
}
