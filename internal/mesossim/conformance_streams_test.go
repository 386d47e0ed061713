package mesossim

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	execcalls "github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// Status update streams and their acknowledgements: where an ACKNOWLEDGE goes, and the
// updates executors send of tasks their agent does not know.

// sameUpdates reads the next n updates of a task, without acknowledging them, and fails
// unless each is the update with that uuid (sent again).
func (s *sched) sameUpdates(taskID string, uuid []byte, n int, when string) {
	s.t.Helper()
	for range n {
		st := s.nextMatching("UPDATE of "+taskID, updateOf(taskID)).GetUpdate().Status
		if !bytes.Equal(st.UUID, uuid) {
			s.t.Fatalf("%s: %s %v, want the unacknowledged update sent again", when, st.GetState(), st.UUID)
		}
	}
}

// Mesos: src/master/master.cpp Master::acknowledge sends an acknowledgement to the agent
// it names (acknowledge.slave_id), and drops it when no such agent is registered; an
// agent that has no stream of the task ignores it
// (src/slave/task_status_update_manager.cpp TaskStatusUpdateManagerProcess::
// acknowledgement). Either way the update is sent again. The call is answered 202 all
// the same; one whose uuid is not a UUID of a known version is refused, 400 "Not a
// valid UUID" (src/master/validation.cpp scheduler::call::validate, stout's
// id::UUID::fromBytes).
func TestConformanceAcknowledgementGoesToTheAgentItNames(t *testing.T) {
	m := startSim(t, Config{Agents: 2, UpdateRetry: 50 * time.Millisecond})
	s := newSched(t, m)
	s.subscribe(info())
	o1, o2 := bothOffers(s)
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(taskOn("t1", o1.AgentID, 0.1))}.WithOffers(o1.ID)).With(calls.RefuseSeconds(0)))
	first := s.nextMatching("UPDATE of t1", updateOf("t1")).GetUpdate().Status

	s.mu.Lock()
	streamID := s.streamID
	s.mu.Unlock()
	unknownVersion := bytes.Clone(first.UUID)
	unknownVersion[6] &= 0x0f // version 0
	bad := calls.Acknowledge(o1.AgentID.Value, "t1", unknownVersion)
	bad.FrameworkID = &mesos.FrameworkID{Value: s.id}
	resp := post(t, m.URL(), mediaProtobuf, "", streamID, marshal(t, bad))
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if want := "Failed to validate scheduler::Call: Not a valid UUID"; resp.StatusCode != http.StatusBadRequest || string(body) != want {
		t.Fatalf("ACKNOWLEDGE with a uuid of version 0: %d %q, want 400 %q", resp.StatusCode, body, want)
	}

	for _, tc := range []struct{ name, agent string }{
		{"another agent", o2.AgentID.Value},
		{"an unknown agent", "no-such-agent"},
	} {
		s.mustCall(calls.Acknowledge(tc.agent, "t1", first.UUID))
		s.sameUpdates("t1", first.UUID, 2, "acknowledged naming "+tc.name)
	}
	s.mustCall(calls.Acknowledge(o1.AgentID.Value, "t1", first.UUID))
	for {
		st := s.nextUpdate("t1")
		if !bytes.Equal(st.UUID, first.UUID) {
			break // the next update: the acknowledgement reached the task's agent
		}
	}
}

// executorUpdate sends an UPDATE as a subscribed executor of the agent at endpoint; it
// returns the update's uuid.
func executorUpdate(t *testing.T, endpoint, frameworkID, executorID, taskID string, state mesos.TaskState) []byte {
	t.Helper()
	return executorUpdateOf(t, endpoint, frameworkID, executorID, taskID, state, nil)
}

// executorUpdateOf is executorUpdate of a status that names agent (none when nil).
func executorUpdateOf(t *testing.T, endpoint, frameworkID, executorID, taskID string, state mesos.TaskState, agent *mesos.AgentID) []byte {
	t.Helper()
	cli := httpcli.New(httpcli.Endpoint("http://"+endpoint+"/api/v1/executor"), httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]))
	sender := execcalls.SenderWith(httpexec.NewSender(cli.Send), execcalls.Framework(frameworkID), execcalls.Executor(executorID))
	u := newUUID()
	st := mesos.TaskStatus{TaskID: mesos.TaskID{Value: taskID}, State: state.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum(), UUID: u, AgentID: agent}
	if err := execcalls.SendNoData(context.Background(), sender, execcalls.NonStreaming(execcalls.Update(st))); err != nil {
		t.Fatalf("UPDATE of %s (agent %v): %v", taskID, agent, err)
	}
	return u
}

// Mesos: src/slave/slave.cpp Slave::statusUpdate hands an executor's update of a task
// no executor of the agent holds — one it never knew, or one whose terminal update was
// acknowledged (Executor::completedTasks) — to the status update manager all the same,
// without container status, which sends it, again until acknowledged; the master
// forwards it to the framework whether it knows the task or not
// (src/master/master.cpp Master::statusUpdate, forward). An update of a task that ended
// and whose terminal update is not acknowledged yet is dropped
// (Executor::updateTaskState: "Task is already terminated").
func TestConformanceUpdatesOfTasksTheAgentDoesNotKnowReachTheFramework(t *testing.T) {
	cfg := execConfig()
	cfg.UpdateRetry = 50 * time.Millisecond
	m := startSim(t, cfg)
	s := newSched(t, m)
	endpoint := launchTestExecutor(s, m) // t1 runs on executor e1
	m.mu.Lock()
	agentID := m.agents[0].id
	m.mu.Unlock()
	update := func(taskID string, state mesos.TaskState) []byte {
		return executorUpdate(t, endpoint, s.id, "e1", taskID, state)
	}
	forwarded := func(taskID string, state mesos.TaskState, uuid []byte) {
		t.Helper()
		st := s.nextMatching("UPDATE of "+taskID, updateOf(taskID)).GetUpdate().Status
		if st.GetState() != state || !bytes.Equal(st.UUID, uuid) || st.GetSource() != mesos.SOURCE_EXECUTOR ||
			st.GetAgentID().GetValue() != agentID || st.ContainerStatus != nil {
			t.Fatalf("update of %s: %v, want the executor's %s from agent %s, without container status", taskID, st, state, agentID)
		}
		s.sameUpdates(taskID, uuid, 2, "before its acknowledgement")
		s.mustCall(calls.Acknowledge(agentID, taskID, uuid))
	}

	forwarded("never-launched", mesos.TASK_RUNNING, update("never-launched", mesos.TASK_RUNNING))

	// t1 ends; while its terminal update is not acknowledged, the agent drops more.
	s.mustCall(calls.Kill("t1", agentID))
	killed := s.nextMatching("TASK_KILLED of t1", updateOf("t1", mesos.TASK_KILLED)).GetUpdate().Status
	update("t1", mesos.TASK_FINISHED)
	s.sameUpdates("t1", killed.UUID, 2, "an update after t1's end")
	s.mustCall(calls.Acknowledge(agentID, "t1", killed.UUID))
	// Once it is, t1 is a task the agent no longer knows.
	late := update("t1", mesos.TASK_FINISHED)
	st := s.nextMatching("UPDATE of t1", func(e *scheduler.Event) bool {
		return updateOf("t1")(e) && !bytes.Equal(e.GetUpdate().Status.UUID, killed.UUID)
	}).GetUpdate().Status
	if st.GetState() != mesos.TASK_FINISHED || !bytes.Equal(st.UUID, late) {
		t.Fatalf("update of t1 after its end was acknowledged: %v, want the late TASK_FINISHED", st)
	}
	s.sameUpdates("t1", late, 1, "before its acknowledgement")
	s.mustCall(calls.Acknowledge(agentID, "t1", late))
}

// Mesos: src/slave/slave.cpp Slave::statusUpdate ignores an executor's update whose
// status names another agent ("Slave ID mismatch"): the call was answered 202, and the
// update is neither forwarded nor acknowledged. One that names no agent is taken, with
// the agent's id filled in (src/common/protobuf_utils.cpp createStatusUpdate).
func TestConformanceAnUpdateNamingAnotherAgentIsDropped(t *testing.T) {
	m := startSim(t, execConfig())
	s := newSched(t, m)
	endpoint := launchTestExecutor(s, m) // t1 runs on executor e1
	m.mu.Lock()
	agentID := m.agents[0].id
	m.mu.Unlock()
	executorUpdateOf(t, endpoint, s.id, "e1", "t1", mesos.TASK_FINISHED, &mesos.AgentID{Value: "another-agent"})
	taken := executorUpdate(t, endpoint, s.id, "e1", "t1", mesos.TASK_FINISHED)
	st := s.nextMatching("TASK_FINISHED of t1", updateOf("t1", mesos.TASK_FINISHED)).GetUpdate().Status
	if !bytes.Equal(st.UUID, taken) || st.GetAgentID().GetValue() != agentID {
		t.Fatalf("first TASK_FINISHED of t1 the framework got: %v, want the one naming no agent (%x), from agent %s",
			st, taken, agentID)
	}
}
