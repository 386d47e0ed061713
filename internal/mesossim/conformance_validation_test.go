package mesossim

import (
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// Mesos: src/master/validation.cpp task::validate, for the tasks of a LAUNCH: the ids of
// the task and of its executor follow src/common/validation.cpp validateID (not empty,
// at most 255 bytes, not "." or "..", no control character, '/' or '\'); the executor
// passes executor::internal::validate (validateType, validateExecutorID,
// validateFrameworkID: the master fills in a framework id the framework left out, and
// refuses another framework's), and then task::internal::validateExecutor asks for a
// CUSTOM executor with a command. Each invalid task ends TASK_ERROR,
// REASON_TASK_INVALID, from the master without a uuid, with Mesos's message; the valid
// ones run.
func TestConformanceTaskAndExecutorValidation(t *testing.T) {
	m := startSim(t, Config{Agents: 1})
	s := newSched(t, m)
	s.subscribe(info(mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	o := s.offer("agent-1")
	sh := "true"
	custom := mesos.ExecutorInfo{Type: mesos.ExecutorInfo_CUSTOM, Command: &mesos.CommandInfo{Value: &sh},
		Resources: []mesos.Resource{scalar("cpus", 0.01)}}
	with := func(id string, change func(*mesos.ExecutorInfo)) mesos.TaskInfo {
		e := custom
		e.ExecutorID = mesos.ExecutorID{Value: "exec-" + id}
		change(&e)
		ti := taskOn(id, o.AgentID, 0.01)
		ti.Command, ti.Executor = nil, &e
		return ti
	}
	long := strings.Repeat("x", 256)
	tests := []struct {
		task mesos.TaskInfo
		want string // "" for a valid task, which runs
	}{
		{taskOn("", o.AgentID, 0.01), "ID must not be empty"},
		{taskOn(".", o.AgentID, 0.01), "'.' is disallowed"},
		{taskOn("..", o.AgentID, 0.01), "'..' is disallowed"},
		{taskOn("a/b", o.AgentID, 0.01), "'a/b' contains invalid characters"},
		{taskOn(`a\b`, o.AgentID, 0.01), `'a\b' contains invalid characters`},
		{taskOn("a\tb", o.AgentID, 0.01), "'a\tb' contains invalid characters"},
		{taskOn("a\x7fb", o.AgentID, 0.01), "'a\x7fb' contains invalid characters"},
		{taskOn(long, o.AgentID, 0.01), "ID must not be greater than 255 characters"},
		{taskOn(long[:255], o.AgentID, 0.01), ""},
		{taskOn("a.b-c_d:e", o.AgentID, 0.01), ""},
		{with("exec-empty-id", func(e *mesos.ExecutorInfo) { e.ExecutorID.Value = "" }), "ID must not be empty"},
		{with("exec-dot-id", func(e *mesos.ExecutorInfo) { e.ExecutorID.Value = ".." }), "'..' is disallowed"},
		{with("exec-slash-id", func(e *mesos.ExecutorInfo) { e.ExecutorID.Value = "e/1" }), "'e/1' contains invalid characters"},
		{with("exec-other-framework", func(e *mesos.ExecutorInfo) { e.FrameworkID = &mesos.FrameworkID{Value: "another-framework"} }),
			"ExecutorInfo has an invalid FrameworkID (Actual: another-framework vs Expected: " + s.id + ")"},
		{with("exec-default", func(e *mesos.ExecutorInfo) { e.Type, e.Command = mesos.ExecutorInfo_DEFAULT, nil }),
			"'ExecutorInfo.type' must be 'CUSTOM'"},
		{with("exec-default-command", func(e *mesos.ExecutorInfo) { e.Type = mesos.ExecutorInfo_DEFAULT }),
			"'ExecutorInfo.command' must not be set for 'DEFAULT' executor"},
		{with("exec-custom-no-command", func(e *mesos.ExecutorInfo) { e.Command = nil }),
			"'ExecutorInfo.command' must be set for 'CUSTOM' executor"},
		{with("exec-no-type-no-command", func(e *mesos.ExecutorInfo) { e.Type, e.Command = mesos.ExecutorInfo_UNKNOWN, nil }),
			"'ExecutorInfo.command' must be set"},
		{with("exec-own-framework", func(e *mesos.ExecutorInfo) { e.FrameworkID = &mesos.FrameworkID{Value: s.id} }), ""},
		{with("exec-no-framework", func(*mesos.ExecutorInfo) {}), ""},
	}
	var tasks []mesos.TaskInfo
	want := map[string]string{}
	for _, tc := range tests {
		tasks = append(tasks, tc.task)
		want[tc.task.TaskID.Value] = tc.want
	}
	s.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(tasks...)}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
	for len(want) > 0 {
		st := s.nextMatching("UPDATE", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_UPDATE }).GetUpdate().Status
		if len(st.UUID) > 0 {
			s.mustCall(calls.Acknowledge(st.AgentID.Value, st.TaskID.Value, st.UUID))
		}
		id := st.TaskID.Value
		msg, ok := want[id]
		switch {
		case !ok:
		case msg == "" && st.GetState() == mesos.TASK_RUNNING:
			delete(want, id)
		case msg == "" && isTerminal(st.GetState()):
			t.Errorf("valid task %q: %s %s %q, want it to run", id, st.GetState(), st.GetReason(), st.GetMessage())
			delete(want, id)
		case msg != "":
			if st.GetState() != mesos.TASK_ERROR || st.GetReason() != mesos.REASON_TASK_INVALID || st.GetSource() != mesos.SOURCE_MASTER ||
				len(st.UUID) != 0 || st.GetMessage() != msg {
				t.Errorf("task %q: %s %s %s %q (uuid %d bytes), want TASK_ERROR REASON_TASK_INVALID from the master, %q",
					id, st.GetState(), st.GetReason(), st.GetSource(), st.GetMessage(), len(st.UUID), msg)
			}
			delete(want, id)
		}
	}
}
