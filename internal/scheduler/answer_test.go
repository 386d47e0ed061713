package scheduler

import (
	"context"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// answerEnd hands the scheduler the master's answer to a reconciliation that the
// harness's task ended: no uuid (nothing to acknowledge), no data.
func (h *updateHarness) answerEnd(state mesos.TaskState) {
	h.s.Update(context.Background(), mesos.TaskStatus{TaskID: mesos.TaskID{Value: "k8sm.u1"}, State: state.Enum(),
		AgentID: &mesos.AgentID{Value: "a1"}, Source: mesos.SOURCE_MASTER.Enum(), Reason: mesos.REASON_RECONCILIATION.Enum(),
		Message: ptrTo("Reconciliation: Latest task state")}, func(context.Context) error { return nil })
}

// agentEnd hands the scheduler the agent's own update that the task failed, sent again
// as the framework subscribed, and waits for its acknowledgement.
func (h *updateHarness) agentEnd(t *testing.T) {
	t.Helper()
	acked := make(chan struct{})
	h.s.Update(context.Background(), mesos.TaskStatus{TaskID: mesos.TaskID{Value: "k8sm.u1"}, State: mesos.TASK_FAILED.Enum(),
		AgentID: &mesos.AgentID{Value: "a1"}, Source: mesos.SOURCE_EXECUTOR.Enum(), Reason: mesos.REASON_COMMAND_EXECUTOR_FAILED.Enum(),
		Message: ptrTo("Command exited with status 3"), UUID: []byte("0123456789abcdef")},
		func(context.Context) error { close(acked); return nil })
	select {
	case <-acked:
	case <-time.After(10 * time.Second):
		t.Fatal("the agent's update was never acknowledged")
	}
}

// A reconciliation answer that a task failed, which comes before the agent's own update
// after a failover (both follow the subscription), waits for it: the task's end is the
// agent's, with its reason and the executor's data, not the answer's.
func TestTheAgentsEndIsWrittenOverAReconciliationAnswerOfIt(t *testing.T) {
	h := newUpdateHarness(t, time.Hour)
	h.answerEnd(mesos.TASK_FAILED)
	h.agentEnd(t)
	mt := h.task(t)
	if mt.Status.Phase != mesosv1alpha1.TaskPhaseFailed || mt.Status.Reason != mesos.REASON_COMMAND_EXECUTOR_FAILED.String() ||
		mt.Status.Source != mesos.SOURCE_EXECUTOR.String() {
		t.Fatalf("the MesosTask ended %s, %s from %s; want Failed with the agent's reason, from the executor",
			mt.Status.Phase, mt.Status.Reason, mt.Status.Source)
	}
}

// An answer that a task ended, which no update of the agent's follows, is written after
// the grace.
func TestAReconciliationAnswerOfAnEndIsWrittenAfterTheGrace(t *testing.T) {
	h := newUpdateHarness(t, 50*time.Millisecond)
	h.answerEnd(mesos.TASK_FINISHED)
	waitFor(t, "the MesosTask to say Finished", func() bool { return h.phase(t) == mesosv1alpha1.TaskPhaseFinished })
	if mt := h.task(t); mt.Status.Reason != mesos.REASON_RECONCILIATION.String() {
		t.Fatalf("reason %s, want the answer's", mt.Status.Reason)
	}
}

func TestEndedInAnswer(t *testing.T) {
	answer := func(state mesos.TaskState) mesos.TaskStatus {
		return mesos.TaskStatus{State: state.Enum(), Reason: mesos.REASON_RECONCILIATION.Enum()}
	}
	agents := answer(mesos.TASK_FAILED)
	agents.UUID = []byte("u")
	for _, tc := range []struct {
		about string
		ts    mesos.TaskStatus
		want  bool
	}{
		{"failed", answer(mesos.TASK_FAILED), true},
		{"finished", answer(mesos.TASK_FINISHED), true},
		{"killed", answer(mesos.TASK_KILLED), true},
		{"running", answer(mesos.TASK_RUNNING), false},
		{"gone: the master's own end, no agent update follows", answer(mesos.TASK_GONE), false},
		{"lost", answer(mesos.TASK_LOST), false},
		{"an agent's update", agents, false},
		{"the master's, not an answer", mesos.TaskStatus{State: mesos.TASK_FAILED.Enum()}, false},
	} {
		if got := endedInAnswer(tc.ts); got != tc.want {
			t.Errorf("%s: endedInAnswer = %v, want %v", tc.about, got, tc.want)
		}
	}
}

// A STARTING acknowledged and held back is not dropped for an answer of the task's end:
// the answer is written on top of it, as any update. And a STARTING sent again while
// an answer is held does not take its place: it is written at once, and the answer
// after it when due.
func TestAHeldStartingAndAHeldAnswerKeepEachOther(t *testing.T) {
	h := newUpdateHarness(t, 50*time.Millisecond)
	h.send(t, mesos.TASK_STARTING)
	h.answerEnd(mesos.TASK_FAILED)
	waitFor(t, "the MesosTask to say Failed", func() bool { return h.phase(t) == mesosv1alpha1.TaskPhaseFailed })

	h2 := newUpdateHarness(t, time.Hour)
	h2.answerEnd(mesos.TASK_FAILED)
	h2.send(t, mesos.TASK_STARTING)
	if got := h2.phase(t); got != mesosv1alpha1.TaskPhaseStarting {
		t.Fatalf("phase %s after a STARTING sent while an answer is held, want it written (Starting)", got)
	}
	h2.agentEnd(t)
	if mt := h2.task(t); mt.Status.Phase != mesosv1alpha1.TaskPhaseFailed || mt.Status.Source != mesos.SOURCE_EXECUTOR.String() {
		t.Fatalf("the MesosTask ended %s from %s, want Failed from the executor", mt.Status.Phase, mt.Status.Source)
	}
}
