package mesossim

import (
	"bytes"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// Fidelity of the agent-side faults to Mesos 1.12, event by event and field by field:
// agent restarts (with and without checkpointing, executors that come back or do not),
// executors killed, and the executor heartbeat. Each test names the Mesos source it
// holds the sim to. faults_fidelity_master_test.go has the master-side faults.

// eventsUntil reads the framework's events until one matches, and returns those read
// before it (HEARTBEATs left out; OFFERS kept for later as nextMatching keeps them) and
// the match.
func (s *sched) eventsUntil(what string, match func(*scheduler.Event) bool) (before []*scheduler.Event, e *scheduler.Event) {
	s.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case e, open := <-s.events:
			switch {
			case !open:
				s.t.Fatalf("stream closed while waiting for %s", what)
			case match(e):
				return before, e
			case e.Type == scheduler.Event_OFFERS:
				s.skippedOffers = append(s.skippedOffers, e)
			case e.Type != scheduler.Event_HEARTBEAT:
				before = append(before, e)
			}
		case <-deadline:
			s.t.Fatalf("no %s event", what)
		}
	}
}

// updateOf matches an UPDATE of a task, in a state if one is given.
func updateOf(taskID string, states ...mesos.TaskState) func(*scheduler.Event) bool {
	return func(e *scheduler.Event) bool {
		if e.Type != scheduler.Event_UPDATE || e.GetUpdate().Status.TaskID.Value != taskID {
			return false
		}
		return len(states) == 0 || e.GetUpdate().Status.GetState() == states[0]
	}
}

// noFailure fails the test if one of the events is a FAILURE.
func noFailure(t *testing.T, when string, events []*scheduler.Event) {
	t.Helper()
	for _, e := range events {
		if e.Type == scheduler.Event_FAILURE {
			t.Fatalf("%s: FAILURE %v, want none", when, e.GetFailure())
		}
	}
}

// untilState reads the task's updates, acknowledging each, until it reaches a state;
// it returns that update and the other events read meanwhile (HEARTBEATs and OFFERS
// aside).
func (s *sched) untilState(taskID string, state mesos.TaskState) (others []*scheduler.Event, st mesos.TaskStatus) {
	s.t.Helper()
	for {
		before, e := s.eventsUntil("UPDATE of "+taskID, updateOf(taskID))
		others = append(others, before...)
		st = e.GetUpdate().Status
		if len(st.UUID) > 0 {
			s.mustCall(calls.Acknowledge(st.AgentID.Value, taskID, st.UUID))
		}
		if st.GetState() == state {
			return others, st
		}
	}
}

// simExecutor is an executor the sim only simulates (no exec mode).
func simExecutor(id string) mesos.ExecutorInfo {
	return mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: id}, Command: &mesos.CommandInfo{Value: ptr("true")},
		Resources: []mesos.Resource{scalar("cpus", 0.1), scalar("mem", 32)}}
}

// aware is info(), PARTITION_AWARE or not, checkpointing or not.
func aware(partitionAware, checkpoint bool) mesos.FrameworkInfo {
	fi := info()
	if partitionAware {
		fi = info(mesos.FrameworkInfo_Capability_PARTITION_AWARE)
	}
	fi.Checkpoint = ptr(checkpoint)
	return fi
}

// Mesos: src/master/master.cpp Master::exited(const UPID&) → disconnect(Slave*) →
// deactivate(Slave*) rescinds the agent's offers, then removeFramework(Slave*,
// Framework*) sends, for a framework that does not checkpoint, TASK_LOST (not converted:
// PARTITION_AWARE or not), SOURCE_MASTER, REASON_SLAVE_DISCONNECTED, "Agent <hostname>
// disconnected", no uuid, with the executor id, and removes the task, so that
// Master::reconcile then finds it unknown to the agent. The killed executors are not
// reported (no FAILURE): the restarted agent does not know them.
func TestFidelityRestartAgentLosesUncheckpointedTasks(t *testing.T) {
	for _, tc := range []struct {
		name       string
		aware      bool
		reconciled mesos.TaskState
	}{{"not partition-aware", false, mesos.TASK_LOST}, {"partition-aware", true, mesos.TASK_GONE}} {
		t.Run(tc.name, func(t *testing.T) {
			m := startSim(t, Config{Agents: 1})
			s := newSched(t, m)
			s.subscribe(aware(tc.aware, false))
			o := s.offer("")
			s.launch(o, simExecutor("e1"), "t1")
			s.waitState("t1", mesos.TASK_RUNNING)
			held := s.offer("agent-1")
			if err := m.RestartAgent("agent-1"); err != nil {
				t.Fatal(err)
			}
			before, e := s.eventsUntil("UPDATE of t1", updateOf("t1"))
			if len(before) != 1 || before[0].Type != scheduler.Event_RESCIND || before[0].GetRescind().OfferID != held.ID {
				t.Fatalf("before the update: %v, want the RESCIND of %s alone", before, held.ID.Value)
			}
			st := e.GetUpdate().Status
			if st.GetState() != mesos.TASK_LOST || st.GetReason() != mesos.REASON_AGENT_DISCONNECTED || st.GetSource() != mesos.SOURCE_MASTER ||
				st.GetMessage() != "Agent agent-1 disconnected" || st.UUID != nil || st.GetExecutorID().GetValue() != "e1" || st.GetAgentID().GetValue() != o.AgentID.Value {
				t.Fatalf("after the restart: %v", st)
			}
			waitReady(t, m, "agent-1")
			s.offer("agent-1") // registered again
			s.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"t1": o.AgentID.Value})))
			before, e = s.eventsUntil("reconciliation of t1", updateOf("t1"))
			noFailure(t, "after the restart", before)
			if st := e.GetUpdate().Status; st.GetState() != tc.reconciled || st.GetMessage() != "Reconciliation: Task is unknown to the agent" {
				t.Fatalf("reconciliation after the restart: %v, want %s unknown to the agent", st, tc.reconciled)
			}
		})
	}
}

// Mesos: src/master/master.cpp removeFramework(Slave*, Framework*) does the same for a
// task whose terminal update is not acknowledged yet: TASK_LOST, though the master keeps
// the state it ended in (Master::updateTask), and the task is removed, so its id is
// free. The restarted agent checkpoints nothing of such a framework: the terminal update
// never comes again.
func TestFidelityRestartAgentLosesUnacknowledgedEnds(t *testing.T) {
	m := startSim(t, Config{Agents: 1, UpdateRetry: 100 * time.Millisecond})
	s := newSched(t, m)
	s.subscribe(aware(true, false))
	o := s.offer("")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(finishing("t1", o, "1ms"))}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
	var finished mesos.TaskStatus
	for finished.State == nil {
		st := s.nextMatching("UPDATE of t1", updateOf("t1")).GetUpdate().Status
		if st.GetState() == mesos.TASK_FINISHED {
			finished = st // not acknowledged
			continue
		}
		s.mustCall(calls.Acknowledge(o.AgentID.Value, "t1", st.UUID))
	}
	if err := m.RestartAgent("agent-1"); err != nil {
		t.Fatal(err)
	}
	lost := s.nextMatching("TASK_LOST of t1", updateOf("t1", mesos.TASK_LOST)).GetUpdate().Status
	if lost.GetReason() != mesos.REASON_AGENT_DISCONNECTED || lost.GetSource() != mesos.SOURCE_MASTER ||
		lost.GetMessage() != "Agent agent-1 disconnected" || lost.UUID != nil {
		t.Fatalf("after the restart: %v", lost)
	}
	waitReady(t, m, "agent-1")
	o = s.offer("agent-1")
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(taskOn("t1", o.AgentID, 0.1))}.WithOffers(o.ID)))
	for _, want := range []mesos.TaskState{mesos.TASK_STARTING, mesos.TASK_RUNNING} {
		if st := s.nextUpdate("t1"); st.GetState() != want {
			t.Fatalf("t1 launched again: %v, want %s", st, want)
		}
	}
	time.Sleep(time.Second) // several retry intervals
	s.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"marker": "no-such-agent"})))
	before, _ := s.eventsUntil("the marker", updateOf("marker"))
	for _, e := range before {
		if e.Type == scheduler.Event_UPDATE {
			t.Fatalf("after t1 ran again: %v", e.GetUpdate().Status)
		}
	}
}

// Mesos: src/slave/slave.cpp Slave::_recover waits --executor_reregistration_timeout
// whenever it recovered a framework, and only Slave::reregisterExecutorTimeout ends the
// recovery (MESOS-7539), after which Slave::__recover looks for the master: a restarted
// agent that runs tasks of a checkpointing framework offers again only after the
// timeout; one that recovered nothing registers at once.
func TestFidelityRestartedAgentRecoversBeforeRegistering(t *testing.T) {
	for _, checkpoint := range []bool{true, false} {
		m := startSim(t, Config{Agents: 1, ExecutorReregistrationTimeout: time.Second})
		s := newSched(t, m)
		s.subscribe(aware(true, checkpoint))
		s.launch(s.offer(""), simExecutor("e1"), "t1")
		s.waitState("t1", mesos.TASK_RUNNING)
		s.offer("agent-1")
		start := time.Now()
		if err := m.RestartAgent("agent-1"); err != nil {
			t.Fatal(err)
		}
		s.next(scheduler.Event_RESCIND)
		s.offer("agent-1")
		if waited := time.Since(start); waited < time.Second == checkpoint {
			t.Errorf("checkpointing %t: the agent offered again %v after its restart (executor reregistration timeout 1s)", checkpoint, waited)
		}
	}
}

// Mesos: src/master/master.cpp Master::acknowledge drops (after answering 202) an
// acknowledgement for an agent that is not registered or not connected; the agent's
// status update manager sends the update again, with the same uuid, once it has
// registered again (Slave::reregistered resumes it).
func TestFidelityAcknowledgementWhileAgentRestarts(t *testing.T) {
	m := startSim(t, Config{Agents: 1, ExecutorReregistrationTimeout: 500 * time.Millisecond, UpdateRetry: time.Minute})
	s := newSched(t, m)
	s.subscribe(aware(true, true))
	o := s.offer("")
	s.launch(o, simExecutor("e1"), "t1")
	starting := s.nextMatching("STARTING", updateOf("t1", mesos.TASK_STARTING)).GetUpdate().Status
	if err := m.RestartAgent("agent-1"); err != nil {
		t.Fatal(err)
	}
	s.mustCall(calls.Acknowledge(o.AgentID.Value, "t1", starting.UUID))
	again := s.nextMatching("UPDATE of t1", updateOf("t1")).GetUpdate().Status
	if again.GetState() != mesos.TASK_STARTING || !bytes.Equal(again.UUID, starting.UUID) {
		t.Fatalf("after the agent came back: %v, want STARTING again (its acknowledgement was dropped)", again)
	}
}

// Mesos: src/slave/slave.cpp Slave::reregisterExecutorTimeout destroys an executor that
// did not subscribe again and sets its pending termination: TASK_GONE (TASK_LOST if not
// PARTITION_AWARE), REASON_EXECUTOR_REREGISTRATION_TIMEOUT, "Executor did not reregister
// within <timeout>"; Slave::executorTerminated and sendExecutorTerminatedStatusUpdate
// send it from the agent (SOURCE_SLAVE, a uuid, the executor id) after the
// ExitedExecutorMessage that Master::exitedExecutor turns into FAILURE (agent id,
// executor id, wait status 9 for SIGKILL).
func TestFidelityExecutorReregistrationTimeout(t *testing.T) {
	for _, tc := range []struct {
		name  string
		aware bool
		state mesos.TaskState
	}{{"partition-aware", true, mesos.TASK_GONE}, {"not partition-aware", false, mesos.TASK_LOST}} {
		t.Run(tc.name, func(t *testing.T) {
			m := startSim(t, execConfig())
			s := newSched(t, m)
			s.subscribe(aware(tc.aware, true))
			o := s.offer("")
			s.launch(o, testExecutor(t, "e1", "hang-on-disconnect"), "t1")
			s.waitState("t1", mesos.TASK_RUNNING)
			s.offer("agent-1") // held: rescinded at the restart
			if err := m.RestartAgent("agent-1"); err != nil {
				t.Fatal(err)
			}
			before, e := s.eventsUntil("UPDATE of t1", updateOf("t1"))
			if len(before) != 2 || before[0].Type != scheduler.Event_RESCIND || before[1].Type != scheduler.Event_FAILURE {
				t.Fatalf("before the update: %v, want RESCIND and FAILURE", before)
			}
			if f := before[1].GetFailure(); f.GetExecutorID().GetValue() != "e1" || f.GetAgentID().GetValue() != o.AgentID.Value || f.GetStatus() != 9 {
				t.Fatalf("FAILURE %v, want e1 on %s killed (9)", f, o.AgentID.Value)
			}
			st := e.GetUpdate().Status
			if st.GetState() != tc.state || st.GetReason() != mesos.REASON_EXECUTOR_REREGISTRATION_TIMEOUT || st.GetSource() != mesos.SOURCE_AGENT ||
				st.GetMessage() != "Executor did not reregister within 1secs" || len(st.UUID) != 16 || st.GetExecutorID().GetValue() != "e1" {
				t.Fatalf("after the timeout: %v", st)
			}
		})
	}
}

// Mesos: src/slave/slave.cpp Slave::executorTerminated for an executor killed outside
// Mesos: the containerizer's termination has only the wait status, so the agent's
// defaults apply (sendExecutorTerminatedStatusUpdate): TASK_FAILED,
// REASON_EXECUTOR_TERMINATED, SOURCE_SLAVE, "Executor terminated", a uuid, the executor
// id, and no container status (the container is gone when Slave::_statusUpdate asks).
// The ExitedExecutorMessage goes to the master at once, the update only after the
// containerizer and the status update manager: FAILURE comes first.
func TestFidelityKillExecutor(t *testing.T) {
	m := startSim(t, execConfig())
	s := newSched(t, m)
	s.subscribe(aware(true, false))
	o := s.offer("")
	s.launch(o, testExecutor(t, "e1", "normal"), "t1")
	s.waitState("t1", mesos.TASK_RUNNING)
	if err := m.KillExecutor("agent-1", s.id, "e1"); err != nil {
		t.Fatal(err)
	}
	before, e := s.eventsUntil("UPDATE of t1", updateOf("t1"))
	if len(before) != 1 || before[0].Type != scheduler.Event_FAILURE {
		t.Fatalf("before the update: %v, want FAILURE", before)
	}
	if f := before[0].GetFailure(); f.GetExecutorID().GetValue() != "e1" || f.GetAgentID().GetValue() != o.AgentID.Value || f.GetStatus() != 9 {
		t.Fatalf("FAILURE %v", f)
	}
	st := e.GetUpdate().Status
	if st.GetState() != mesos.TASK_FAILED || st.GetReason() != mesos.REASON_EXECUTOR_TERMINATED || st.GetSource() != mesos.SOURCE_AGENT ||
		st.GetMessage() != "Executor terminated" || len(st.UUID) != 16 || st.GetExecutorID().GetValue() != "e1" ||
		st.GetAgentID().GetValue() != o.AgentID.Value || st.ContainerStatus != nil {
		t.Fatalf("after the kill: %v", st)
	}
}

// An executor that exits while its agent is away: its FAILURE reaches no one (Mesos:
// src/master/master.cpp Master::exitedExecutor drops it for a removed, i.e. unreachable,
// agent; src/slave/slave.cpp sendExitedExecutorMessage has no master to send it to
// while a restarted agent recovers), and its task's TASK_FAILED arrives once the agent
// is back. After a partition the master first sends the task's state on the agent
// (Master::__reregisterSlave: TASK_FAILED, REASON_SLAVE_REREGISTERED, with the container
// status of the latest status that had one, protobuf::getTaskContainerStatus).
func TestFidelityExecutorExitWhileAgentAway(t *testing.T) {
	for _, away := range []string{"partitioned", "recovering"} {
		t.Run(away, func(t *testing.T) {
			cfg := execConfig()
			cfg.ExecutorReregistrationTimeout = 2 * time.Second
			m := startSim(t, cfg)
			s := newSched(t, m)
			s.subscribe(aware(true, true))
			s.launch(s.offer(""), testExecutor(t, "e1", "normal"), "t1")
			running := s.waitState("t1", mesos.TASK_RUNNING)
			if away == "partitioned" {
				if err := m.PartitionAgent("agent-1"); err != nil {
					t.Fatal(err)
				}
				s.next(scheduler.Event_FAILURE) // the agent's
			} else {
				if err := m.RestartAgent("agent-1"); err != nil {
					t.Fatal(err)
				}
				waitReady(t, m, "agent-1")
			}
			if err := m.KillExecutor("agent-1", s.id, "e1"); err != nil {
				t.Fatal(err)
			}
			if away == "partitioned" {
				time.Sleep(300 * time.Millisecond) // the exit is reported meanwhile
				if err := m.HealAgent("agent-1"); err != nil {
					t.Fatal(err)
				}
				before, e := s.eventsUntil("the master's update of t1", updateOf("t1"))
				noFailure(t, "while partitioned", before)
				st := e.GetUpdate().Status
				if st.GetState() != mesos.TASK_FAILED || st.GetReason() != mesos.REASON_AGENT_REREGISTERED || st.UUID != nil ||
					st.GetContainerStatus().GetContainerID().GetValue() != running.GetContainerStatus().GetContainerID().GetValue() {
					t.Fatalf("when the agent came back: %v, want its TASK_FAILED from the master with the container status of %v", st, running)
				}
			}
			// (After a restart the executor hands over an update it made while away first.)
			others, st := s.untilState("t1", mesos.TASK_FAILED)
			noFailure(t, "while the agent was away", others)
			if st.GetReason() != mesos.REASON_EXECUTOR_TERMINATED || st.GetSource() != mesos.SOURCE_AGENT || len(st.UUID) != 16 {
				t.Fatalf("after the agent came back: %v", st)
			}
		})
	}
}

// Mesos: src/slave/slave.cpp Slave::subscribe gives each subscribed executor a
// ResponseHeartbeater (src/common/heartbeater.hpp) with DEFAULT_EXECUTOR_HEARTBEAT_INTERVAL
// as interval and first delay: a HEARTBEAT event an interval after SUBSCRIBED, then one
// every interval.
func TestFidelityExecutorHeartbeat(t *testing.T) {
	cfg := execConfig()
	cfg.ExecutorHeartbeatInterval = 300 * time.Millisecond
	m := startSim(t, cfg)
	s := newSched(t, m)
	s.subscribe(info())
	s.launch(s.offer(""), testExecutor(t, "quiet", "silent"), "q1")
	// Subscribe in the place of the executor, which never does.
	start := time.Now()
	events := newStandIn(t, m, s.id, "quiet").subscribe()
	var heartbeats []time.Duration
	deadline := time.After(5 * time.Second)
	for len(heartbeats) < 2 {
		select {
		case e, open := <-events:
			if !open {
				t.Fatalf("HEARTBEATs after %v, then the stream ended", heartbeats)
			}
			if e.GetType() == mexec.Event_HEARTBEAT {
				heartbeats = append(heartbeats, time.Since(start))
			}
		case <-deadline:
			t.Fatalf("HEARTBEATs after %v, then none", heartbeats)
		}
	}
	if heartbeats[0] < 300*time.Millisecond || heartbeats[1]-heartbeats[0] < 200*time.Millisecond {
		t.Fatalf("HEARTBEATs after %v, want the first an interval (300ms) after SUBSCRIBE and one per interval", heartbeats)
	}
}
