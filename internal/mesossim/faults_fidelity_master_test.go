package mesossim

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// Fidelity of the master-side faults to Mesos 1.12: partitions and their end, agents
// marked gone, master failovers and outages. Each test names the Mesos source it holds
// the sim to.

// finishing is a simulated task of executor e1 that finishes after running a while
// (Go duration).
func finishing(id string, o mesos.Offer, after string) mesos.TaskInfo {
	e := simExecutor("e1")
	return mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID, Executor: &e,
		Resources: []mesos.Resource{scalar("cpus", 0.1)},
		Labels:    &mesos.Labels{Labels: []mesos.Label{{Key: LabelFinishAfter, Value: ptr(after)}}}}
}

// partitionScene is a framework with a running task t1 (executor e1) and a task t2 whose
// TASK_FINISHED it has not acknowledged, on agent-1, holding an offer of agent-1.
func partitionScene(t *testing.T, fi mesos.FrameworkInfo) (m *Master, s *sched, o, held mesos.Offer, finished mesos.TaskStatus) {
	t.Helper()
	m = startSim(t, Config{Agents: 1, UpdateRetry: time.Minute})
	s = newSched(t, m)
	s.subscribe(fi)
	o = s.offer("")
	e := simExecutor("e1")
	t1 := mesos.TaskInfo{Name: "t1", TaskID: mesos.TaskID{Value: "t1"}, AgentID: o.AgentID, Executor: &e, Resources: []mesos.Resource{scalar("cpus", 0.1)}}
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(t1, finishing("t2", o, "1ms"))}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
	running := false
	for !running || finished.State == nil {
		st := s.nextMatching("UPDATE", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_UPDATE }).GetUpdate().Status
		if st.GetState() == mesos.TASK_FINISHED {
			finished = st // not acknowledged
			continue
		}
		s.mustCall(calls.Acknowledge(o.AgentID.Value, st.TaskID.Value, st.UUID))
		running = running || st.TaskID.Value == "t1" && st.GetState() == mesos.TASK_RUNNING
	}
	held = s.offer("agent-1")
	return m, s, o, held, finished
}

// lostUnless is state for a PARTITION_AWARE framework, else TASK_LOST.
func lostUnless(partitionAware bool, state mesos.TaskState) mesos.TaskState {
	if partitionAware {
		return state
	}
	return mesos.TASK_LOST
}

// Mesos: src/master/master.cpp Master::markUnreachable (from SlaveObserver with "health
// check timed out"), _markUnreachable, __removeSlave: every task the master holds for
// the agent, a terminal one not acknowledged yet included, becomes TASK_UNREACHABLE
// (TASK_LOST if not PARTITION_AWARE), REASON_SLAVE_REMOVED, SOURCE_MASTER, with the
// agent's unreachable_time and the executor id; then the agent's offers are rescinded;
// then sendSlaveLost's FAILURE names the agent. An acknowledgement for the unreachable
// agent is dropped (Master::acknowledge). When it comes back (Master::__reregisterSlave)
// each task's state on the agent comes from the master, REASON_SLAVE_REREGISTERED,
// "Unreachable agent re-reregistered", and the agent sends its unacknowledged update again.
func TestFidelityPartitionAndHeal(t *testing.T) {
	for _, partitionAware := range []bool{true, false} {
		m, s, o, held, finished := partitionScene(t, aware(partitionAware, true))
		start := time.Now()
		if err := m.PartitionAgent("agent-1"); err != nil {
			t.Fatal(err)
		}
		before, failure := s.eventsUntil("FAILURE", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_FAILURE })
		if len(before) != 3 || before[2].Type != scheduler.Event_RESCIND || before[2].GetRescind().OfferID != held.ID {
			t.Fatalf("partition-aware %t: before FAILURE %v, want two updates then RESCIND", partitionAware, before)
		}
		for _, e := range before[:2] {
			st := e.GetUpdate().Status
			ut := time.Unix(0, st.GetUnreachableTime().GetNanoseconds())
			if st.GetState() != lostUnless(partitionAware, mesos.TASK_UNREACHABLE) || st.GetReason() != mesos.REASON_AGENT_REMOVED ||
				st.GetSource() != mesos.SOURCE_MASTER || st.GetMessage() != "health check timed out" || st.UUID != nil ||
				st.GetExecutorID().GetValue() != "e1" || ut.Before(start.Add(-time.Second)) || ut.After(time.Now()) {
				t.Fatalf("partition-aware %t: update %v", partitionAware, st)
			}
		}
		if f := failure.GetFailure(); f.GetAgentID().GetValue() != o.AgentID.Value || f.ExecutorID != nil || f.Status != nil {
			t.Fatalf("FAILURE %v, want agent %s alone", f, o.AgentID.Value)
		}
		s.mustCall(calls.Acknowledge(o.AgentID.Value, "t2", finished.UUID)) // dropped
		if err := m.HealAgent("agent-1"); err != nil {
			t.Fatal(err)
		}
		healed := map[string]mesos.TaskState{}
		for len(healed) < 2 {
			st := s.nextMatching("UPDATE", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_UPDATE }).GetUpdate().Status
			if st.GetReason() != mesos.REASON_AGENT_REREGISTERED || st.GetMessage() != "Unreachable agent re-reregistered" || st.UUID != nil {
				t.Fatalf("when the agent came back: %v", st)
			}
			healed[st.TaskID.Value] = st.GetState()
		}
		if healed["t1"] != mesos.TASK_RUNNING || healed["t2"] != mesos.TASK_FINISHED {
			t.Fatalf("when the agent came back: %v", healed)
		}
		if again := s.nextMatching("t2 again", updateOf("t2")).GetUpdate().Status; !bytes.Equal(again.UUID, finished.UUID) {
			t.Fatalf("then %v, want the FINISHED acknowledged while the agent was away, again", again)
		}
	}
}

// Mesos: src/master/master.cpp Master::markGone. For a registered agent, __removeSlave
// without unreachable_time: TASK_GONE_BY_OPERATOR, REASON_SLAVE_REMOVED_BY_OPERATOR
// (TASK_LOST, REASON_SLAVE_REMOVED if not PARTITION_AWARE), "Agent has been marked gone",
// then RESCIND, then FAILURE. For an unreachable agent: the same update for its
// unreachable tasks, and neither RESCIND nor FAILURE.
func TestFidelityRemoveAgent(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		partitionAware, partition bool
		reason                    mesos.TaskStatus_Reason
	}{
		{"registered, partition-aware", true, false, mesos.REASON_AGENT_REMOVED_BY_OPERATOR},
		{"registered", false, false, mesos.REASON_AGENT_REMOVED},
		{"unreachable, partition-aware", true, true, mesos.REASON_AGENT_REMOVED_BY_OPERATOR},
		{"unreachable", false, true, mesos.REASON_AGENT_REMOVED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, s, o, held, _ := partitionScene(t, aware(tc.partitionAware, true))
			if tc.partition {
				if err := m.PartitionAgent("agent-1"); err != nil {
					t.Fatal(err)
				}
				s.next(scheduler.Event_FAILURE)
			}
			if err := m.RemoveAgent("agent-1"); err != nil {
				t.Fatal(err)
			}
			// A reconciliation marks the end of what RemoveAgent sent.
			s.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"marker": "no-such-agent"})))
			events, _ := s.eventsUntil("the marker", updateOf("marker"))
			want := []scheduler.Event_Type{scheduler.Event_UPDATE, scheduler.Event_UPDATE, scheduler.Event_RESCIND, scheduler.Event_FAILURE}
			if tc.partition {
				want = want[:2]
			}
			if len(events) != len(want) {
				t.Fatalf("after RemoveAgent: %v, want %v", events, want)
			}
			for i, e := range events {
				if e.Type != want[i] {
					t.Fatalf("after RemoveAgent: %v, want %v", events, want)
				}
				if e.Type == scheduler.Event_RESCIND && e.GetRescind().OfferID != held.ID || e.Type == scheduler.Event_FAILURE && e.GetFailure().GetAgentID().GetValue() != o.AgentID.Value {
					t.Fatalf("after RemoveAgent: %v", e)
				}
				if st := e.GetUpdate().GetStatus(); e.Type == scheduler.Event_UPDATE && (st.GetState() != lostUnless(tc.partitionAware, mesos.TASK_GONE_BY_OPERATOR) ||
					st.GetReason() != tc.reason || st.GetMessage() != "Agent has been marked gone" || st.UnreachableTime != nil || st.GetSource() != mesos.SOURCE_MASTER) {
					t.Fatalf("after RemoveAgent: %v", st)
				}
			}
		})
	}
}

// Mesos: after a master failover (src/master/master.cpp Master::_recover), the new
// master knows a framework only once it subscribes or a registered agent reports its
// tasks (Master::__reregisterSlave, updateSlaveFrameworks, recoverFramework): a framework
// whose tasks are all on an unreachable agent is unknown (400), and known, though not
// subscribed (403), once that agent registers again.
func TestFidelityFailoverMasterFrameworkKnownThroughAgents(t *testing.T) {
	m, s, _, _, _ := partitionScene(t, aware(true, true))
	if err := m.PartitionAgent("agent-1"); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	stream := s.streamID
	s.mu.Unlock()
	m.FailoverMaster()
	revive := func() int {
		return post(t, m.URL(), mediaProtobuf, "", stream, marshal(t, calls.Revive().With(calls.Framework(s.id)))).StatusCode
	}
	if got := revive(); got != http.StatusBadRequest {
		t.Fatalf("call of a framework known only through an unreachable agent = %d, want 400", got)
	}
	if err := m.HealAgent("agent-1"); err != nil {
		t.Fatal(err)
	}
	if got := revive(); got != http.StatusForbidden {
		t.Fatalf("call of a framework its agent reported, not subscribed = %d, want 403", got)
	}
}

// Mesos: src/master/master.cpp Master::recoverFramework starts no failover timer for a
// framework recovered after a master failover, so one that does not subscribe again is
// never removed (docs/high-availability-framework-guide.md, MESOS-4659); once it has
// subscribed and disconnected again, Master::_exited counts its failover_timeout again.
func TestFidelityNoFailoverTimeoutAfterMasterFailover(t *testing.T) {
	m := startSim(t, Config{Agents: 1})
	fi := info()
	fi.FailoverTimeout = ptr(0.3)
	s := newSched(t, m)
	s.subscribe(fi)
	o := s.offer("")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(taskOn("t1", o.AgentID, 0.5))}.WithOffers(o.ID)))
	s.waitState("t1", mesos.TASK_RUNNING)

	m.FailoverMaster()
	s.streamClosed()
	time.Sleep(time.Second)
	if st := m.State(); len(st.Frameworks) != 1 || st.Frameworks[0].Removed || len(st.Frameworks[0].Tasks) != 1 || st.Frameworks[0].Tasks[0].State != "TASK_RUNNING" {
		t.Fatalf("a second after the failover (failover_timeout 0.3s): %+v, want the framework and its running task", st.Frameworks)
	}
	s.subscribe(fi)
	m.DropStream(s.id)
	waitRemoved(t, m, s.id)
}

// Mesos: src/master/master.cpp Master::reconcile answers a task the master holds with
// Task.status_update_state, the state of the latest update Master::forward sent the
// framework, when there is one: after a master failover and a new SUBSCRIBE, a task whose
// TASK_STARTING is not acknowledged is reconciled TASK_STARTING, though the agent holds
// TASK_RUNNING behind it; the STARTING itself is sent again at once
// (Master::sendFrameworkUpdates, Slave::updateFramework).
func TestFidelityReconcileAfterFailoverAnswersTheUnacknowledgedState(t *testing.T) {
	m := startSim(t, Config{Agents: 1, UpdateRetry: time.Minute})
	s := newSched(t, m)
	s.subscribe(info())
	o := s.offer("")
	s.launch(o, simExecutor("e1"), "t1")
	starting := s.nextMatching("STARTING", updateOf("t1", mesos.TASK_STARTING)).GetUpdate().Status
	m.FailoverMaster()
	s.streamClosed()
	s.subscribe(info())
	again := s.nextMatching("STARTING again", updateOf("t1")).GetUpdate().Status
	if !bytes.Equal(again.UUID, starting.UUID) {
		t.Fatalf("after subscribing again: %v, want the unacknowledged STARTING", again)
	}
	s.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"t1": o.AgentID.Value})))
	st := s.nextMatching("reconciliation", updateOf("t1")).GetUpdate().Status
	if st.GetState() != mesos.TASK_STARTING || st.GetReason() != mesos.REASON_RECONCILIATION || st.UUID != nil {
		t.Fatalf("reconciliation: %v, want TASK_STARTING", st)
	}
}

// A master outage (SetDown): the master answers nothing and the streams end, but agents
// run on and keep their updates (Mesos: src/slave/slave.cpp Slave::detected, "Lost
// leading master": the status update manager is paused, executors keep running); the
// master comes back with a new id, and a framework subscribing again with its id gets
// its task's update made meanwhile.
func TestFidelityMasterDown(t *testing.T) {
	m := startSim(t, Config{Agents: 1, UpdateRetry: time.Minute})
	s := newSched(t, m)
	s.subscribe(info())
	o := s.offer("")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(finishing("t1", o, "500ms"))}.WithOffers(o.ID)))
	s.waitState("t1", mesos.TASK_RUNNING)
	before := m.ID()

	m.SetDown(true)
	s.streamEnds()
	if _, err := http.Post(m.URL()+"/api/v1/scheduler", mediaProtobuf, bytes.NewReader(marshal(t, calls.Subscribe(ptr(info()))))); err == nil {
		t.Fatal("the master answered while down")
	}
	time.Sleep(time.Second) // t1 finishes meanwhile
	if st := m.State(); len(st.Frameworks) != 1 || len(st.Frameworks[0].Tasks) != 1 || st.Frameworks[0].Tasks[0].State != "TASK_FINISHED" {
		t.Fatalf("while the master is down: %+v, want t1 finished on its agent", st.Frameworks)
	}
	m.SetDown(false)

	if sub := s.subscribe(info()); sub.MasterInfo.ID == before {
		t.Fatal("the master came back with its old id")
	}
	if st := s.nextUpdate("t1"); st.GetState() != mesos.TASK_FINISHED || st.GetSource() != mesos.SOURCE_EXECUTOR {
		t.Fatalf("after the outage: %v", st)
	}
}

// Mesos: src/master/master.cpp Master::frameworkFailoverTimeout removes a framework that
// stayed disconnected for its failover_timeout (Master::removeFramework(Framework*)):
// its tasks end TASK_KILLED in the master without an update, the agents shut its
// executors down (src/slave/slave.cpp Slave::shutdownFramework: SHUTDOWN, then the kill
// after the grace period), and a later SUBSCRIBE with its id is refused with "Framework
// has been removed" (Master::validateFramework).
func TestFidelityFailoverTimeoutShutsExecutorsDown(t *testing.T) {
	cfg := execConfig()
	cfg.ExecutorShutdownGracePeriod = 10 * time.Second // the executor exits on SHUTDOWN long before
	m := startSim(t, cfg)
	fi := info()
	fi.FailoverTimeout = ptr(0.3)
	s := newSched(t, m)
	stop, _ := s.subscribeUntil(fi)
	s.launch(s.offer(""), testExecutor(t, "e1", "normal"), "t1")
	s.waitState("t1", mesos.TASK_RUNNING)
	start := time.Now()
	stop()
	waitRemoved(t, m, s.id)
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("removed %v after it disconnected, before its failover timeout (300ms)", waited)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		m.mu.Lock()
		left := len(m.agents[0].runs)
		m.mu.Unlock()
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the removed framework's executor still runs")
		}
	}
	if _, refused := newSchedWithID(t, m, s.id).subscribeUntil(fi); refused != "Framework has been removed" {
		t.Fatalf("SUBSCRIBE of the removed framework: refused %q", refused)
	}
}

// newSchedWithID is a new scheduler client for the framework id.
func newSchedWithID(t *testing.T, m *Master, id string) *sched {
	s := newSched(t, m)
	s.id = id
	return s
}

// Mesos: a task the master removes with its agent leaves Framework::tasks
// (__removeSlave → removeTask), a terminal one whose update is not acknowledged yet
// included, so that validateUniqueTaskID (src/master/validation.cpp) no longer finds
// it there. Removed as unreachable (a partition; for a framework that is not
// PARTITION_AWARE, also the agent marked gone), it is kept among the framework's
// unreachable tasks, and a LAUNCH of its id gets TASK_ERROR, REASON_TASK_INVALID, "Task
// reuses the ID of an unreachable task: <id>" until the agent comes back (then the task
// is the master's again: "Task has duplicate ID: <id>"), or, unreachable, is marked gone
// (Master::markGone completes it), or the master fails over (the list is not kept,
// MESOS-6785). A PARTITION_AWARE framework's task of an agent marked gone is completed
// at once.
func TestFidelityTaskIDsOfRemovedAgents(t *testing.T) {
	const unreachable, duplicate, free = "Task reuses the ID of an unreachable task: ", "Task has duplicate ID: ", ""
	for _, tc := range []struct {
		name           string
		partitionAware bool
		// fault returns a new offer of agent-2 when the one held is gone.
		fault func(t *testing.T, m *Master, s *sched) (again *mesos.Offer)
		want  string
	}{
		{"partitioned", true, partition, unreachable},
		{"partitioned, not partition-aware", false, partition, unreachable},
		{"partitioned, then back", true, func(t *testing.T, m *Master, s *sched) *mesos.Offer {
			partition(t, m, s)
			if err := m.HealAgent("agent-1"); err != nil {
				t.Fatal(err)
			}
			return nil
		}, duplicate},
		{"partitioned, then marked gone", false, func(t *testing.T, m *Master, s *sched) *mesos.Offer {
			partition(t, m, s)
			if err := m.RemoveAgent("agent-1"); err != nil {
				t.Fatal(err)
			}
			return nil
		}, free},
		{"partitioned, then the master failed over", true, func(t *testing.T, m *Master, s *sched) *mesos.Offer {
			partition(t, m, s)
			m.FailoverMaster()
			s.streamClosed()
			s.subscribe(aware(true, true))
			o := s.offer("agent-2")
			return &o
		}, free},
		{"marked gone", true, markGone, free},
		{"marked gone, not partition-aware", false, markGone, unreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := startSim(t, Config{Agents: 2, UpdateRetry: time.Minute})
			s := newSched(t, m)
			s.subscribe(aware(tc.partitionAware, true))
			o1, o2 := bothOffers(s)
			e := simExecutor("e1")
			t1 := mesos.TaskInfo{Name: "t1", TaskID: mesos.TaskID{Value: "t1"}, AgentID: o1.AgentID, Executor: &e, Resources: []mesos.Resource{scalar("cpus", 0.1)}}
			s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(t1, finishing("t2", o1, "1ms"))}.WithOffers(o1.ID)).With(calls.RefuseSeconds(0)))
			for running, finished := false, false; !running || !finished; {
				st := s.nextMatching("UPDATE", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_UPDATE }).GetUpdate().Status
				if st.GetState() == mesos.TASK_FINISHED {
					finished = true // not acknowledged
					continue
				}
				s.mustCall(calls.Acknowledge(o1.AgentID.Value, st.TaskID.Value, st.UUID))
				running = running || st.TaskID.Value == "t1" && st.GetState() == mesos.TASK_RUNNING
			}

			// Both ids again, on agent-2.
			if again := tc.fault(t, m, s); again != nil {
				o2 = *again
			}
			s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(taskOn("t1", o2.AgentID, 0.1), taskOn("t2", o2.AgentID, 0.1))}.WithOffers(o2.ID)))
			answers := map[string]mesos.TaskStatus{}
			for len(answers) < 2 {
				st := s.nextMatching("the answers to the launch", func(e *scheduler.Event) bool {
					st := e.GetUpdate().GetStatus()
					return e.Type == scheduler.Event_UPDATE && (st.GetState() == mesos.TASK_ERROR || st.GetAgentID().GetValue() == o2.AgentID.Value)
				}).GetUpdate().Status
				if _, ok := answers[st.TaskID.Value]; !ok {
					answers[st.TaskID.Value] = st
				}
			}
			for id, st := range answers {
				if tc.want == free {
					if st.GetState() != mesos.TASK_STARTING {
						t.Fatalf("%s again: %v, want it launched", id, st)
					}
					continue
				}
				if st.GetState() != mesos.TASK_ERROR || st.GetReason() != mesos.REASON_TASK_INVALID || st.GetSource() != mesos.SOURCE_MASTER ||
					st.GetMessage() != tc.want+id || len(st.UUID) != 0 {
					t.Fatalf("%s again: %v, want TASK_ERROR REASON_TASK_INVALID %q", id, st, tc.want+id)
				}
			}
		})
	}
}

// partition partitions agent-1 and waits for the master's FAILURE.
func partition(t *testing.T, m *Master, s *sched) *mesos.Offer {
	t.Helper()
	if err := m.PartitionAgent("agent-1"); err != nil {
		t.Fatal(err)
	}
	s.next(scheduler.Event_FAILURE)
	return nil
}

// markGone marks the registered agent-1 gone and waits for the master's FAILURE.
func markGone(t *testing.T, m *Master, s *sched) *mesos.Offer {
	t.Helper()
	if err := m.RemoveAgent("agent-1"); err != nil {
		t.Fatal(err)
	}
	s.next(scheduler.Event_FAILURE)
	return nil
}

// Mesos: a re-registering agent lists every framework it runs an executor of, tasks or
// not (src/slave/slave.cpp Slave::doReliableRegistration), and the failed-over master
// recovers each one it does not know (src/master/master.cpp updateSlaveFrameworks,
// recoverFramework). So a framework whose only trace is an idle executor is known, though
// not subscribed (403), once that agent has registered (400 until then), and after it
// subscribes again its executor's messages and updates reach it.
func TestFidelityFailoverMasterFrameworkKnownThroughAnIdleExecutor(t *testing.T) {
	m := startSim(t, execConfig())
	if err := m.DelayReregistration(time.Hour, "agent-1"); err != nil {
		t.Fatal(err)
	}
	s := newSched(t, m)
	fi := checkpointing(mesos.FrameworkInfo_Capability_PARTITION_AWARE)
	s.subscribe(fi)
	o := s.offer("")
	s.launch(o, testExecutor(t, "e1", "normal"), "t1")
	s.waitState("t1", mesos.TASK_RUNNING)
	s.mustCall(calls.Kill("t1", o.AgentID.Value))
	s.waitState("t1", mesos.TASK_KILLED) // acknowledged: the master lets go of t1; e1 runs on, idle
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
	if err := m.ReregisterAgent("agent-1"); err != nil {
		t.Fatal(err)
	}
	if got := revive(); got != http.StatusForbidden {
		t.Fatalf("call of a framework known through its idle executor, not subscribed = %d, want 403", got)
	}
	s.subscribe(fi)
	s.mustCall(calls.Message(o.AgentID.Value, "e1", []byte("hi")))
	if msg := s.next(scheduler.Event_MESSAGE).GetMessage(); string(msg.Data) != "echo:hi" {
		t.Fatalf("MESSAGE %q, want echo:hi", msg.Data)
	}
	s.launch(s.offer("agent-1"), testExecutor(t, "e1", "normal"), "t2")
	s.waitState("t2", mesos.TASK_RUNNING)
}
