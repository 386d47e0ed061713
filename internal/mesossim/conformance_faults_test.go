package mesossim

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// Conformance tests of faults: agent restarts and partitions, master failovers, failed
// ACCEPTs and status updates duplicated or delayed.

// checkpointing is info() of a framework that checkpoints.
func checkpointing(caps ...mesos.FrameworkInfo_Capability_Type) mesos.FrameworkInfo {
	fi := info(caps...)
	fi.Checkpoint = ptr(true)
	return fi
}

// waitReady waits until a restarted agent serves again.
func waitReady(t *testing.T, m *Master, hostname string) {
	t.Helper()
	select {
	case <-m.AgentReady(hostname):
	case <-time.After(10 * time.Second):
		t.Fatalf("agent %s does not serve again", hostname)
	}
}

// TestConformanceRestartAgentCheckpointing: the executor of a checkpointing framework
// survives an agent restart, subscribes again, and the update it could not deliver while
// the agent was away reaches the framework; the agent offers again and the executor
// still answers messages.
func TestConformanceRestartAgentCheckpointing(t *testing.T) {
	m := startSim(t, execConfig())
	s := newSched(t, m)
	s.subscribe(checkpointing(mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	o := s.offer("")
	s.launch(o, testExecutor(t, "e1", "normal"), "t1")
	s.waitState("t1", mesos.TASK_RUNNING)

	if err := m.RestartAgent("agent-1"); err != nil {
		t.Fatal(err)
	}
	if err := m.RestartAgent("agent-1"); err == nil {
		t.Fatal("restarting a restarting agent must fail")
	}
	waitReady(t, m, "agent-1")
	st := s.nextUpdate("t1")
	if st.GetState() != mesos.TASK_RUNNING || st.GetMessage() != "while the agent was away" || st.GetSource() != mesos.SOURCE_EXECUTOR {
		t.Fatalf("after the restart: %v, want the executor's unacknowledged RUNNING update", st)
	}
	s.offer("agent-1") // registered again
	s.mustCall(calls.Message(o.AgentID.Value, "e1", []byte("still there")))
	if msg := s.next(scheduler.Event_MESSAGE).GetMessage(); string(msg.Data) != "echo:still there" {
		t.Fatalf("MESSAGE %q", msg.Data)
	}
}

// TestConformanceRestartAgentKeepsAnIdleExecutor: an executor whose tasks have all ended
// and been acknowledged, of a checkpointing framework, survives an agent restart: it
// subscribes again and is kept, as it once ran a task (Mesos: src/slave/slave.cpp
// Slave::subscribe shuts down only an executor never sent a task, Executor::everSentTask,
// and the agent recovers its acknowledged tasks among the completed ones,
// Executor::recoverTask).
func TestConformanceRestartAgentKeepsAnIdleExecutor(t *testing.T) {
	m := startSim(t, execConfig())
	s := newSched(t, m)
	s.subscribe(checkpointing(mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	o := s.offer("")
	s.launch(o, testExecutor(t, "e1", "normal"), "t1")
	s.waitState("t1", mesos.TASK_RUNNING)
	s.mustCall(calls.Kill("t1", o.AgentID.Value))
	s.waitState("t1", mesos.TASK_KILLED) // acknowledged: e1 is idle, but it ran a task

	if err := m.RestartAgent("agent-1"); err != nil {
		t.Fatal(err)
	}
	waitActive(t, m, "agent-1")
	s.mustCall(calls.Message(o.AgentID.Value, "e1", []byte("still there")))
	if msg := s.next(scheduler.Event_MESSAGE).GetMessage(); string(msg.Data) != "echo:still there" {
		t.Fatalf("MESSAGE %q", msg.Data)
	}
}

// waitActive waits until a restarted agent has registered with the master again (an
// offer may be one of before the restart).
func waitActive(t *testing.T, m *Master, hostname string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		for _, a := range m.State().Agents {
			if a.Hostname == hostname && a.Active {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent %s did not register again", hostname)
		}
	}
}

// TestConformanceRestartAgentNotCheckpointing: a framework that does not checkpoint
// loses its tasks when their agent restarts (TASK_LOST from the master,
// REASON_AGENT_DISCONNECTED) and gets their resources offered again.
func TestConformanceRestartAgentNotCheckpointing(t *testing.T) {
	m := startSim(t, execConfig())
	s := newSched(t, m)
	s.subscribe(info(mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	o := s.offer("")
	s.launch(o, testExecutor(t, "e1", "normal"), "t1")
	s.waitState("t1", mesos.TASK_RUNNING)

	if err := m.RestartAgent("agent-1"); err != nil {
		t.Fatal(err)
	}
	st := s.nextUpdate("t1")
	if st.GetState() != mesos.TASK_LOST || st.GetReason() != mesos.REASON_AGENT_DISCONNECTED || st.GetSource() != mesos.SOURCE_MASTER || len(st.UUID) != 0 {
		t.Fatalf("after the restart: %v", st)
	}
	waitReady(t, m, "agent-1")
	for scalars(s.offer("agent-1").Resources)["cpus"] != 4 {
		// until the task's and the executor's cpus are back
	}
}

// TestConformanceRestartAgentExecutorTimeout: an executor of a checkpointing framework
// that does not subscribe again in time is killed; FAILURE names it, and its task ends
// TASK_GONE, REASON_EXECUTOR_REREGISTRATION_TIMEOUT.
func TestConformanceRestartAgentExecutorTimeout(t *testing.T) {
	m := startSim(t, execConfig())
	s := newSched(t, m)
	s.subscribe(checkpointing(mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	o := s.offer("")
	s.launch(o, testExecutor(t, "e1", "hang-on-disconnect"), "t1")
	s.waitState("t1", mesos.TASK_RUNNING)

	if err := m.RestartAgent("agent-1"); err != nil {
		t.Fatal(err)
	}
	if f := s.next(scheduler.Event_FAILURE).GetFailure(); f.GetExecutorID().GetValue() != "e1" || f.GetStatus() != 9 {
		t.Fatalf("FAILURE %v", f)
	}
	st := s.nextUpdate("t1")
	if st.GetState() != mesos.TASK_GONE || st.GetReason() != mesos.REASON_EXECUTOR_REREGISTRATION_TIMEOUT || st.GetSource() != mesos.SOURCE_AGENT {
		t.Fatalf("after the restart: %v", st)
	}
}

// faultOverHTTP posts a fault and returns the status code.
func faultOverHTTP(t *testing.T, m *Master, path string) int {
	t.Helper()
	resp, err := http.Post(m.URL()+path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestRestartAgentOverHTTP(t *testing.T) {
	m := startSim(t, Config{Agents: 1})
	s := newSched(t, m)
	s.subscribe(info())
	o := s.offer("")
	if got := faultOverHTTP(t, m, "/faults/restart-agent?agent=nope"); got != http.StatusNotFound {
		t.Fatalf("unknown agent: %d", got)
	}
	if got := faultOverHTTP(t, m, "/faults/restart-agent?agent=agent-1"); got != http.StatusAccepted {
		t.Fatalf("restart: %d", got)
	}
	if got := faultOverHTTP(t, m, "/faults/restart-agent?agent=agent-1"); got != http.StatusConflict {
		t.Fatalf("restart while restarting: %d", got)
	}
	if r := s.next(scheduler.Event_RESCIND).GetRescind(); r.OfferID != o.ID {
		t.Fatalf("RESCIND %v, want %v", r.OfferID, o.ID)
	}
	waitReady(t, m, "agent-1")
	s.offer("agent-1")
}

// An ACCEPT can fail with its launch applied (the answer lost) or not. The master applies
// an ACCEPT before it answers, so the task exists, or not, when the call returns.
func TestFailAcceptsOverHTTP(t *testing.T) {
	for _, processed := range []bool{true, false} {
		m := startSim(t, Config{Agents: 1})
		s := newSched(t, m)
		s.subscribe(info())
		if got := faultOverHTTP(t, m, fmt.Sprintf("/faults/fail-accepts?n=1&processed=%v", processed)); got != http.StatusAccepted {
			t.Fatalf("fail-accepts: %d", got)
		}
		o := s.offer("")
		if err := s.call(calls.Accept(calls.OfferOperations{calls.OpLaunch(commandTask("t", o))}.WithOffers(o.ID))); err == nil {
			t.Fatalf("processed=%v: the ACCEPT succeeded; want it answered with an error", processed)
		}
		if launched := len(m.State().Frameworks[0].Tasks) == 1; launched != processed {
			t.Fatalf("processed=%v: task launched = %v", processed, launched)
		}
	}
}

// TestConformanceFailoverMaster: after a master failover the framework's stream ends
// without ERROR; the new master refuses its calls until it subscribes again (403 with
// tasks, 400 without); SUBSCRIBE with its id gives it the same id from a master with a
// new id, its task and its unacknowledged update; the old stream id is refused.
func TestConformanceFailoverMaster(t *testing.T) {
	m := startSim(t, Config{Agents: 1, UpdateRetry: time.Minute})
	oldMaster := m.ID()
	s := newSched(t, m)
	s.subscribe(info())
	idle := newSched(t, m)
	idle.subscribe(info())
	o := s.offer("")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(commandTask("t1", o))}.WithOffers(o.ID)))
	starting := s.nextMatching("STARTING", func(e *scheduler.Event) bool {
		return e.Type == scheduler.Event_UPDATE && e.GetUpdate().Status.GetState() == mesos.TASK_STARTING
	}).GetUpdate().Status // not acknowledged
	s.mu.Lock()
	oldStream := s.streamID
	s.mu.Unlock()

	if got := faultOverHTTP(t, m, "/faults/failover-master"); got != http.StatusAccepted {
		t.Fatalf("failover-master = %d", got)
	}
	s.streamEnds()
	idle.streamEnds()
	if m.ID() == oldMaster {
		t.Fatal("the master kept its id")
	}
	revive := func(id, stream string) int {
		return post(t, m.URL(), mediaProtobuf, "", stream, marshal(t, calls.Revive().With(calls.Framework(id)))).StatusCode
	}
	if got := revive(s.id, oldStream); got != http.StatusForbidden {
		t.Fatalf("call of a framework with tasks before it subscribes again = %d, want 403", got)
	}
	if got := revive(idle.id, oldStream); got != http.StatusBadRequest {
		t.Fatalf("call of a framework the new master does not know = %d, want 400", got)
	}

	oldID := s.id
	sub := s.subscribe(info())
	if sub.FrameworkID.Value != oldID || sub.MasterInfo.ID == oldMaster || sub.MasterInfo.ID != m.ID() {
		t.Fatalf("SUBSCRIBED %v: want framework %s from a master with a new id", sub, oldID)
	}
	again := s.nextUpdate("t1")
	if again.GetState() != mesos.TASK_STARTING || !bytes.Equal(again.UUID, starting.UUID) {
		t.Fatalf("redelivered %v, want the unacknowledged STARTING", again)
	}
	s.waitState("t1", mesos.TASK_RUNNING)
	if got := revive(s.id, oldStream); got != http.StatusBadRequest {
		t.Fatalf("old stream id = %d, want 400", got)
	}
	if idle.subscribe(info()).FrameworkID.Value != idle.id {
		t.Fatal("a framework the new master did not know must get its id back")
	}
}

// TestConformanceHealAgent: a partitioned agent that comes back brings its task back for
// PARTITION_AWARE frameworks (UNREACHABLE, then RUNNING) and others (LOST, then RUNNING)
// alike, as Mesos 1.5+ does, and offers again.
func TestConformanceHealAgent(t *testing.T) {
	for _, tc := range []struct {
		name string
		fi   mesos.FrameworkInfo
		cut  mesos.TaskState
	}{
		{"partition-aware", info(mesos.FrameworkInfo_Capability_PARTITION_AWARE), mesos.TASK_UNREACHABLE},
		{"not partition-aware", info(), mesos.TASK_LOST},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := startSim(t, Config{Agents: 1})
			s := newSched(t, m)
			s.subscribe(tc.fi)
			o := s.offer("")
			s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(commandTask("t1", o))}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
			s.waitState("t1", mesos.TASK_RUNNING)
			if got := faultOverHTTP(t, m, "/faults/heal?agent=agent-1"); got != http.StatusConflict {
				t.Fatalf("healing a connected agent = %d, want 409", got)
			}
			if err := m.PartitionAgent("agent-1"); err != nil {
				t.Fatal(err)
			}
			if st := s.nextUpdate("t1"); st.GetState() != tc.cut {
				t.Fatalf("after the partition: %v", st)
			}
			if got := faultOverHTTP(t, m, "/faults/heal?agent=agent-1"); got != http.StatusAccepted {
				t.Fatalf("heal = %d", got)
			}
			st := s.nextUpdate("t1")
			if st.GetState() != mesos.TASK_RUNNING || st.GetReason() != mesos.REASON_AGENT_REREGISTERED || st.GetSource() != mesos.SOURCE_MASTER {
				t.Fatalf("after healing: %v", st)
			}
			s.offer("agent-1")
			if err := m.RemoveAgent("agent-1"); err != nil {
				t.Fatal(err)
			}
			if err := m.HealAgent("agent-1"); err == nil {
				t.Fatal("a removed agent must not come back")
			}
		})
	}
}

// TestDuplicateAndDelayedUpdates: with DuplicateUpdates every agent update arrives twice
// with its uuid; with DelayUpdates it arrives only after the delay, still in order.
func TestDuplicateAndDelayedUpdates(t *testing.T) {
	m := startSim(t, Config{Agents: 1, UpdateRetry: time.Minute})
	s := newSched(t, m)
	s.subscribe(info())
	if got := faultOverHTTP(t, m, "/faults/duplicate-updates?on=true"); got != http.StatusAccepted {
		t.Fatalf("duplicate-updates = %d", got)
	}
	o := s.offer("")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(commandTask("t1", o))}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
	isT1 := func(e *scheduler.Event) bool {
		return e.Type == scheduler.Event_UPDATE && e.GetUpdate().Status.TaskID.Value == "t1"
	}
	first := s.nextMatching("UPDATE", isT1).GetUpdate().Status
	second := s.nextMatching("UPDATE", isT1).GetUpdate().Status
	if first.GetState() != mesos.TASK_STARTING || !bytes.Equal(first.UUID, second.UUID) || second.GetState() != first.GetState() {
		t.Fatalf("updates %v then %v, want one update twice", first, second)
	}
	s.mustCall(calls.Acknowledge(o.AgentID.Value, "t1", first.UUID))
	s.waitState("t1", mesos.TASK_RUNNING)
	m.DuplicateUpdates(false)

	if got := faultOverHTTP(t, m, "/faults/delay-updates?for=300ms"); got != http.StatusAccepted {
		t.Fatalf("delay-updates = %d", got)
	}
	o = s.offer("")
	start := time.Now()
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(commandTask("t2", o))}.WithOffers(o.ID)))
	if st := s.nextUpdate("t2"); st.GetState() != mesos.TASK_STARTING {
		t.Fatalf("first update %v, want STARTING", st)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("update after %v, before the 300ms delay", waited)
	}
	if st := s.nextUpdate("t2"); st.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("second update %v, want RUNNING", st)
	}
}
