package podtask

import (
	"encoding/hex"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

func TestApplyUpdateIsIdempotentAndMonotonic(t *testing.T) {
	st := &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStaging}
	running := update(mesos.TASK_RUNNING, nil, "0123456789abcdef")
	if !ApplyUpdate(st, running, metav1.Now()) || st.StartedAt == nil || st.LastUpdateUUID != "30313233343536373839616263646566" || st.Source != "SOURCE_EXECUTOR" {
		t.Fatalf("first RUNNING: %+v", st)
	}
	if ApplyUpdate(st, running, metav1.Now()) {
		t.Fatal("the same update applied twice changed the status")
	}
	recon := mesos.REASON_RECONCILIATION
	if ApplyUpdate(st, update(mesos.TASK_RUNNING, &recon, ""), metav1.Now()) {
		t.Fatal("a reconciliation answer that says nothing new changed the status")
	}
	failed := update(mesos.TASK_FAILED, mesos.REASON_EXECUTOR_TERMINATED.Enum(), "fedcba9876543210")
	failed.Message = ptr("exit 1")
	if !ApplyUpdate(st, failed, metav1.Now()) || st.Reason != "REASON_EXECUTOR_TERMINATED" || st.Message != "exit 1" {
		t.Fatalf("FAILED: %+v", st)
	}
	if ApplyUpdate(st, running, metav1.Now()) || st.Phase != mesosv1alpha1.TaskPhaseFailed {
		t.Fatal("an older RUNNING sent again moved a failed task back")
	}
	if ApplyUpdate(st, update(mesos.TASK_LOST, &recon, ""), metav1.Now()) || st.Phase != mesosv1alpha1.TaskPhaseFailed {
		t.Fatal("a LOST answer to a second KILL moved a failed task to another phase")
	}
}

// A framework that is not PARTITION_AWARE hears TASK_LOST where another hears
// TASK_UNREACHABLE, TASK_GONE, TASK_GONE_BY_OPERATOR or TASK_UNKNOWN (src/master/master.cpp
// Master::__removeSlave, Master::reconcile). With unreachable_time, its agent is
// unreachable: the task may come back with it, and stays (or becomes) Unreachable, from a
// reconciliation answer (case 4, "Task is unreachable") too. Without it, the task is gone,
// whatever was recorded before, TASK_LOST itself included: its agent was marked gone, its
// executor ended before it ran (the agent's word), or a reconciliation answer says Mesos
// does not know it (case 3, unknown to its agent; 5, its agent marked gone; 6, unknown).
func TestLostFromReconciliation(t *testing.T) {
	recon, removed := mesos.REASON_RECONCILIATION, mesos.REASON_AGENT_REMOVED
	lost := func(reason *mesos.TaskStatus_Reason, msg string, unreachable bool) mesos.TaskStatus {
		ts := update(mesos.TASK_LOST, reason, "")
		ts.Source, ts.Message = mesos.SOURCE_MASTER.Enum(), &msg
		if unreachable {
			ts.UnreachableTime = &mesos.TimeInfo{Nanoseconds: 1_700_000_000_000_000_000}
		}
		return ts
	}
	partitioned := lost(&removed, "health check timed out", true)
	markedGone := lost(&removed, "Agent has been marked gone", false)
	unreachable := lost(&recon, "Reconciliation: Task is unreachable", true)
	unknownToAgent := lost(&recon, "Reconciliation: Task is unknown to the agent", false)
	agentGone := lost(&recon, "Reconciliation: Task is gone", false)
	unknown := lost(&recon, "Reconciliation: Task is unknown", false)
	for _, tc := range []struct {
		name        string
		phase       mesosv1alpha1.TaskPhase
		state       string // recorded
		update      mesos.TaskStatus
		want        mesosv1alpha1.TaskPhase
		wantChanged bool
	}{
		{"running, then its agent partitioned", mesosv1alpha1.TaskPhaseRunning, "TASK_RUNNING", partitioned, mesosv1alpha1.TaskPhaseUnreachable, true},
		{"running, then its agent marked gone", mesosv1alpha1.TaskPhaseRunning, "TASK_RUNNING", markedGone, mesosv1alpha1.TaskPhaseGone, true},
		{"partitioned, then its agent marked gone", mesosv1alpha1.TaskPhaseUnreachable, "TASK_LOST", markedGone, mesosv1alpha1.TaskPhaseGone, true},
		{"running, then its executor ended before it ran (the agent)", mesosv1alpha1.TaskPhaseRunning, "TASK_RUNNING", lost(mesos.REASON_EXECUTOR_TERMINATED.Enum(), "Executor terminated", false), mesosv1alpha1.TaskPhaseGone, true},
		{"running, then unreachable from reconciliation", mesosv1alpha1.TaskPhaseRunning, "TASK_RUNNING", unreachable, mesosv1alpha1.TaskPhaseUnreachable, true},
		{"partitioned, then unreachable from reconciliation", mesosv1alpha1.TaskPhaseUnreachable, "TASK_LOST", unreachable, mesosv1alpha1.TaskPhaseUnreachable, false},
		{"unreachable, then unreachable from reconciliation", mesosv1alpha1.TaskPhaseUnreachable, "TASK_UNREACHABLE", unreachable, mesosv1alpha1.TaskPhaseUnreachable, true},
		{"running, then unknown to its agent", mesosv1alpha1.TaskPhaseRunning, "TASK_RUNNING", unknownToAgent, mesosv1alpha1.TaskPhaseGone, true},
		{"partitioned, then unknown to its agent", mesosv1alpha1.TaskPhaseUnreachable, "TASK_LOST", unknownToAgent, mesosv1alpha1.TaskPhaseGone, true},
		{"partitioned, then its agent gone", mesosv1alpha1.TaskPhaseUnreachable, "TASK_LOST", agentGone, mesosv1alpha1.TaskPhaseGone, true},
		{"partitioned, then unknown", mesosv1alpha1.TaskPhaseUnreachable, "TASK_LOST", unknown, mesosv1alpha1.TaskPhaseGone, true},
		{"unreachable, then unknown", mesosv1alpha1.TaskPhaseUnreachable, "TASK_UNREACHABLE", unknown, mesosv1alpha1.TaskPhaseGone, true},
		{"gone, then its agent gone again", mesosv1alpha1.TaskPhaseGone, "TASK_LOST", agentGone, mesosv1alpha1.TaskPhaseGone, false},
		{"gone, then unreachable from reconciliation", mesosv1alpha1.TaskPhaseGone, "TASK_LOST", unreachable, mesosv1alpha1.TaskPhaseGone, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &mesosv1alpha1.MesosTaskStatus{Phase: tc.phase, MesosState: tc.state, AgentID: "S1"}
			if tc.phase == mesosv1alpha1.TaskPhaseUnreachable {
				st.UnreachableSince = &metav1.Time{Time: time.Unix(1_700_000_000, 0)}
			}
			changed := ApplyUpdate(st, tc.update, metav1.Now())
			if changed != tc.wantChanged || st.Phase != tc.want {
				t.Fatalf("changed %v, phase %s; want %v, %s", changed, st.Phase, tc.wantChanged, tc.want)
			}
			if changed && IsTerminalPhase(st.Phase) && st.FinishedAt == nil {
				t.Errorf("no finishedAt on a terminal phase: %+v", st)
			}
		})
	}
}

// A launch with no update recorded that Mesos answers for with TASK_LOST is one it never
// ran, and is launched again; but not when its agent is unreachable (unreachable_time):
// the task may run there, as for a TASK_UNREACHABLE, and Mesos would refuse its id.
func TestALaunchLostWithItsUnreachableAgentIsNotLaunchedAgain(t *testing.T) {
	recon := mesos.REASON_RECONCILIATION
	for _, tc := range []struct {
		name        string
		unreachable bool
		want        mesosv1alpha1.TaskPhase
	}{
		{"unknown", false, mesosv1alpha1.TaskPhasePending},
		{"its agent unreachable", true, mesosv1alpha1.TaskPhaseUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := metav1.Now()
			st := &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStaging, LaunchedAt: &now, AgentID: "S1"}
			ts := update(mesos.TASK_LOST, &recon, "")
			if tc.unreachable {
				ts.UnreachableTime = &mesos.TimeInfo{Nanoseconds: now.UnixNano()}
			}
			if !ApplyUpdate(st, ts, now) || st.Phase != tc.want {
				t.Fatalf("%+v, want %s", st, tc.want)
			}
		})
	}
}

// A launch with no update recorded that Mesos says it does not hold is one it never ran,
// and is launched again; but not when its agent was marked gone for good: the pod is
// bound to that agent's Node, where it could never be launched again (it may also have
// run there, its updates not written), and its task ends Gone.
func TestALaunchMesosNeverRanIsLaunchedAgain(t *testing.T) {
	recon, removed, byOperator := mesos.REASON_RECONCILIATION, mesos.REASON_AGENT_REMOVED, mesos.REASON_AGENT_REMOVED_BY_OPERATOR
	for _, tc := range []struct {
		name   string
		update mesos.TaskStatus
		want   mesosv1alpha1.TaskPhase
	}{
		{"gone", update(mesos.TASK_GONE, &recon, ""), mesosv1alpha1.TaskPhasePending},
		{"unknown", update(mesos.TASK_UNKNOWN, &recon, ""), mesosv1alpha1.TaskPhasePending},
		{"dropped", update(mesos.TASK_DROPPED, nil, ""), mesosv1alpha1.TaskPhasePending},
		{"its agent marked gone", update(mesos.TASK_GONE_BY_OPERATOR, &byOperator, ""), mesosv1alpha1.TaskPhaseGone},
		{"its agent marked gone, from reconciliation", update(mesos.TASK_GONE_BY_OPERATOR, &recon, ""), mesosv1alpha1.TaskPhaseGone},
		{"its agent marked gone, not PARTITION_AWARE", update(mesos.TASK_LOST, &removed, ""), mesosv1alpha1.TaskPhaseGone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := metav1.Now()
			st := &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStaging, LaunchedAt: &now, AgentID: "S1"}
			if !ApplyUpdate(st, tc.update, now) || st.Phase != tc.want || (st.Phase == mesosv1alpha1.TaskPhasePending) != (st.LaunchedAt == nil) {
				t.Fatalf("%+v, want %s", st, tc.want)
			}
		})
	}
}

// A launch the master refused because Mesos still holds the task's id (an earlier launch
// of the pod whose end is not acknowledged yet) goes back to Pending, not Failed, when
// nothing came since the launch (or since Mesos dropped the one before); any other
// TASK_ERROR fails the task. A refusal for a task Mesos reported on is of a launch sent
// again, and says nothing of the task: it changes nothing.
func TestALaunchRefusedForAnIDMesosHoldsIsLaunchedAgain(t *testing.T) {
	refusal := func(msg string) mesos.TaskStatus {
		ts := update(mesos.TASK_ERROR, mesos.REASON_TASK_INVALID.Enum(), "")
		ts.Source, ts.Message = mesos.SOURCE_MASTER.Enum(), &msg
		return ts
	}
	now := metav1.Now()
	for _, tc := range []struct {
		name       string
		mesosState string
		update     mesos.TaskStatus
		want       mesosv1alpha1.TaskPhase
	}{
		{"duplicate id", "", refusal("Task has duplicate ID: t"), mesosv1alpha1.TaskPhasePending},
		{"an unreachable task's id", "", refusal("Task reuses the ID of an unreachable task: t"), mesosv1alpha1.TaskPhasePending},
		{"another task's id named", "", refusal("Task has duplicate ID: u"), mesosv1alpha1.TaskPhaseFailed},
		{"another reason", "", refusal("Task uses no resources"), mesosv1alpha1.TaskPhaseFailed},
		{"a task Mesos dropped, launched again", "TASK_DROPPED", refusal("Task has duplicate ID: t"), mesosv1alpha1.TaskPhasePending},
		{"a task Mesos reported running", "TASK_RUNNING", refusal("Task has duplicate ID: t"), mesosv1alpha1.TaskPhaseRunning},
		{"a task Mesos reported staging", "TASK_STAGING", refusal("Task has duplicate ID: t"), mesosv1alpha1.TaskPhaseStaging},
		{"a task Mesos reported unreachable", "TASK_UNREACHABLE", refusal("Task reuses the ID of an unreachable task: t"), mesosv1alpha1.TaskPhaseUnreachable},
		{"a task Mesos reported on, another reason", "TASK_RUNNING", refusal("Task uses no resources"), mesosv1alpha1.TaskPhaseFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStaging, LaunchedAt: &now, AgentID: "S1"}
			if tc.mesosState != "" {
				st.Phase, st.MesosState = PhaseFor(mesos.TaskState(mesos.TaskState_value[tc.mesosState])), tc.mesosState
			}
			if tc.mesosState == "TASK_DROPPED" {
				st.Phase = mesosv1alpha1.TaskPhaseStaging // launched again
			}
			before := st.DeepCopy()
			changed := ApplyUpdate(st, tc.update, now)
			if st.Phase != tc.want || changed != (tc.want != before.Phase) {
				t.Fatalf("changed %v, %+v; want %s", changed, st, tc.want)
			}
			if !changed && !equality.Semantic.DeepEqual(before, st) {
				t.Fatalf("unchanged, yet %+v became %+v", before, st)
			}
			if tc.want == mesosv1alpha1.TaskPhasePending && (st.LaunchedAt != nil || st.MesosState != tc.mesosState || st.Reason != "REASON_TASK_INVALID" ||
				st.Message != "Mesos still holds an earlier task of this id ("+tc.update.GetMessage()+"); launching again") {
				t.Fatalf("%+v: want the launch undone and the refusal told", st)
			}
		})
	}
}

func TestApplyUpdateFields(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Minute))
	t2 := metav1.NewTime(t0.Add(2 * time.Minute))
	st := &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStaging, LaunchedAt: &t0}

	starting := update(mesos.TASK_STARTING, nil, "aaaaaaaaaaaaaaa1")
	if !ApplyUpdate(st, starting, t0) || st.Phase != mesosv1alpha1.TaskPhaseStarting || st.MesosState != "TASK_STARTING" || st.StartedAt != nil || st.AgentID != "S1" {
		t.Fatalf("STARTING: %+v", st)
	}
	healthy := true
	running := update(mesos.TASK_RUNNING, nil, "aaaaaaaaaaaaaaa2")
	running.Healthy = &healthy
	if !ApplyUpdate(st, running, t1) || st.StartedAt == nil || !st.StartedAt.Equal(&t1) || st.Healthy == nil || !*st.Healthy || !st.LastUpdateTime.Equal(&t1) {
		t.Fatalf("RUNNING: %+v", st)
	}
	if ApplyUpdate(st, starting, t2) || st.Phase != mesosv1alpha1.TaskPhaseRunning || !st.LastUpdateTime.Equal(&t1) {
		t.Fatalf("an older STARTING sent again moved the task back: %+v", st)
	}
	unhealthy := update(mesos.TASK_RUNNING, mesos.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED.Enum(), "aaaaaaaaaaaaaaa3")
	healthy = false
	unhealthy.Healthy = &healthy
	if !ApplyUpdate(st, unhealthy, t2) || *st.Healthy || !st.StartedAt.Equal(&t1) || st.Reason != "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED" || st.LastUpdateUUID != hex.EncodeToString([]byte("aaaaaaaaaaaaaaa3")) {
		t.Fatalf("a health update: %+v", st)
	}
	finished := update(mesos.TASK_FINISHED, nil, "aaaaaaaaaaaaaaa4")
	if !ApplyUpdate(st, finished, t2) || st.FinishedAt == nil || !st.FinishedAt.Equal(&t2) || st.PodPhase != corev1.PodSucceeded || st.Reason != "" {
		t.Fatalf("FINISHED: %+v", st)
	}
	before := st.DeepCopy()
	for _, again := range []mesos.TaskStatus{finished, running, starting, update(mesos.TASK_KILLED, nil, "")} {
		if ApplyUpdate(st, again, metav1.Now()) || !equality.Semantic.DeepEqual(before, st) {
			t.Fatalf("%s after FINISHED changed the status: %+v", again.GetState(), st)
		}
	}
}

func TestApplyUpdateMasterUpdateKeepsUUID(t *testing.T) {
	st := &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStaging}
	ApplyUpdate(st, update(mesos.TASK_RUNNING, nil, "bbbbbbbbbbbbbbbb"), metav1.Now())
	lost := update(mesos.TASK_UNREACHABLE, mesos.REASON_AGENT_DISCONNECTED.Enum(), "")
	lost.Source = mesos.SOURCE_MASTER.Enum()
	if !ApplyUpdate(st, lost, metav1.Now()) || st.Source != "SOURCE_MASTER" || st.LastUpdateUUID != hex.EncodeToString([]byte("bbbbbbbbbbbbbbbb")) || st.Phase != mesosv1alpha1.TaskPhaseUnreachable {
		t.Fatalf("%+v", st)
	}
	if ApplyUpdate(st, lost, metav1.Now()) {
		t.Fatal("the same master update twice changed the status")
	}
	if !ApplyUpdate(st, update(mesos.TASK_RUNNING, nil, "cccccccccccccccc"), metav1.Now()) || st.Phase != mesosv1alpha1.TaskPhaseRunning {
		t.Fatalf("an agent that came back: %+v", st)
	}
}

// An unreachable task keeps when Mesos marked its agent so (unreachable_time), from the
// first update that says it, a reconciliation's answer to a record made again included,
// so that its pod's NodeLost timeout runs from then, not from the manager's write; it is
// cleared once the task is not unreachable any more.
func TestUnreachableSinceIsMesossTime(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	marked := now.Add(-4*time.Minute - 300*time.Millisecond)
	unreachable := func(reason mesos.TaskStatus_Reason, at time.Time) mesos.TaskStatus {
		ts := update(mesos.TASK_UNREACHABLE, reason.Enum(), "")
		ts.Source = mesos.SOURCE_MASTER.Enum()
		ts.UnreachableTime = &mesos.TimeInfo{Nanoseconds: at.UnixNano()}
		return ts
	}
	marking := unreachable(mesos.REASON_AGENT_DISCONNECTED, marked)
	answer := unreachable(mesos.REASON_RECONCILIATION, marked)
	lost := update(mesos.TASK_LOST, mesos.REASON_RECONCILIATION.Enum(), "")
	lost.UnreachableTime = &mesos.TimeInfo{Nanoseconds: marked.UnixNano()}
	want := metav1.NewTime(marked.Truncate(time.Second))
	for _, tc := range []struct {
		name        string
		st          mesosv1alpha1.MesosTaskStatus
		update      mesos.TaskStatus
		want        *metav1.Time
		wantChanged bool
	}{
		{"running, then marked unreachable", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, MesosState: "TASK_RUNNING"}, marking, &want, true},
		{"a record made again, then the reconciliation's answer", mesosv1alpha1.MesosTaskStatus{}, answer, &want, true},
		{"a record made again, TASK_LOST with unreachable_time", mesosv1alpha1.MesosTaskStatus{}, lost, &want, true},
		{"unreachable, recorded without the time, then the answer", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseUnreachable, MesosState: "TASK_UNREACHABLE"}, answer, &want, true},
		{"unreachable since then, then the answer", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseUnreachable, MesosState: "TASK_UNREACHABLE", AgentID: "S1", UnreachableSince: &want}, answer, &want, false},
		{"unreachable, then back", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseUnreachable, MesosState: "TASK_UNREACHABLE", UnreachableSince: &want}, update(mesos.TASK_RUNNING, mesos.REASON_AGENT_REREGISTERED.Enum(), ""), nil, true},
		{"a master clock ahead of this one", mesosv1alpha1.MesosTaskStatus{}, unreachable(mesos.REASON_RECONCILIATION, now.Add(time.Hour)), &now, true},
		{"unreachable without the time", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, MesosState: "TASK_RUNNING"}, update(mesos.TASK_UNREACHABLE, mesos.REASON_AGENT_DISCONNECTED.Enum(), ""), nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.st.DeepCopy()
			changed := ApplyUpdate(st, tc.update, now)
			if changed != tc.wantChanged || !equality.Semantic.DeepEqual(st.UnreachableSince, tc.want) {
				t.Fatalf("changed %v, unreachableSince %v; want %v, %v", changed, st.UnreachableSince, tc.wantChanged, tc.want)
			}
			if changed && ApplyUpdate(st, tc.update, now) {
				t.Errorf("the same update again changed the status: %+v", st)
			}
		})
	}
}
