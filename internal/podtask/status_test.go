package podtask

import (
	"encoding/json"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

func update(state mesos.TaskState, reason *mesos.TaskStatus_Reason, uuid string) mesos.TaskStatus {
	ts := mesos.TaskStatus{TaskID: mesos.TaskID{Value: "t"}, State: state.Enum(), AgentID: &mesos.AgentID{Value: "S1"}, Reason: reason}
	if uuid != "" {
		ts.UUID = []byte(uuid)
		ts.Source = mesos.SOURCE_EXECUTOR.Enum()
	}
	return ts
}

func TestStateTable(t *testing.T) {
	for _, tc := range []struct {
		state mesos.TaskState
		phase mesosv1alpha1.TaskPhase
		pod   corev1.PodPhase
	}{
		{mesos.TASK_STAGING, mesosv1alpha1.TaskPhaseStaging, corev1.PodPending},
		{mesos.TASK_STARTING, mesosv1alpha1.TaskPhaseStarting, corev1.PodPending},
		{mesos.TASK_RUNNING, mesosv1alpha1.TaskPhaseRunning, corev1.PodRunning},
		{mesos.TASK_KILLING, mesosv1alpha1.TaskPhaseKilling, corev1.PodRunning},
		{mesos.TASK_FINISHED, mesosv1alpha1.TaskPhaseFinished, corev1.PodSucceeded},
		{mesos.TASK_FAILED, mesosv1alpha1.TaskPhaseFailed, corev1.PodFailed},
		{mesos.TASK_ERROR, mesosv1alpha1.TaskPhaseFailed, corev1.PodFailed},
		{mesos.TASK_KILLED, mesosv1alpha1.TaskPhaseKilled, corev1.PodFailed},
		{mesos.TASK_DROPPED, mesosv1alpha1.TaskPhasePending, corev1.PodPending},
		{mesos.TASK_UNREACHABLE, mesosv1alpha1.TaskPhaseUnreachable, corev1.PodRunning},
		{mesos.TASK_LOST, mesosv1alpha1.TaskPhaseGone, corev1.PodFailed}, // without unreachable_time: TestLostFromReconciliation
		{mesos.TASK_GONE, mesosv1alpha1.TaskPhaseGone, corev1.PodFailed},
		{mesos.TASK_GONE_BY_OPERATOR, mesosv1alpha1.TaskPhaseGone, corev1.PodFailed},
		{mesos.TASK_UNKNOWN, mesosv1alpha1.TaskPhaseGone, corev1.PodFailed},
	} {
		t.Run(tc.state.String(), func(t *testing.T) {
			// A task that has run (its last update was RUNNING).
			st := &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, PodPhase: corev1.PodRunning, MesosState: "TASK_RUNNING"}
			if tc.state == mesos.TASK_STAGING || tc.state == mesos.TASK_STARTING || tc.state == mesos.TASK_DROPPED {
				st = &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStaging, MesosState: "TASK_STAGING"}
			}
			changed := ApplyUpdate(st, update(tc.state, nil, "0123456789abcdef"), metav1.Now())
			if !changed && tc.state != mesos.TASK_RUNNING && tc.state != mesos.TASK_STAGING {
				t.Fatalf("no change")
			}
			if st.Phase != tc.phase || st.PodPhase != tc.pod || st.MesosState != tc.state.String() {
				t.Fatalf("phase %s pod %s state %s, want %s %s", st.Phase, st.PodPhase, st.MesosState, tc.phase, tc.pod)
			}
			if IsTerminalPhase(tc.phase) && st.FinishedAt == nil {
				t.Error("no finishedAt on a terminal phase")
			}
		})
	}
}

func TestPodStatusFor(t *testing.T) {
	now := metav1.Now()
	pod := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}
	execStatus, _ := json.Marshal(corev1.PodStatus{
		PodIP:             "10.0.0.9",
		Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "c", RestartCount: 2, Ready: false}},
	})
	deadlineStatus, _ := json.Marshal(corev1.PodStatus{
		PodIP: "10.0.0.9", Phase: corev1.PodFailed, Reason: "DeadlineExceeded",
		ContainerStatuses: []corev1.ContainerStatus{{Name: "c", RestartCount: 2}},
	})
	healthyFalse := false
	for _, tc := range []struct {
		name   string
		st     mesosv1alpha1.MesosTaskStatus
		data   []byte
		phase  corev1.PodPhase
		ready  corev1.ConditionStatus
		reason string
	}{
		{"staging is pending and scheduled", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStaging, LaunchedAt: &now}, nil, corev1.PodPending, corev1.ConditionFalse, ""},
		{"running without data is ready", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning}, nil, corev1.PodRunning, corev1.ConditionTrue, ""},
		{"running with the executor's status", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning}, execStatus, corev1.PodRunning, corev1.ConditionFalse, ""},
		{"malformed data is ignored", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning}, []byte("{not json"), corev1.PodRunning, corev1.ConditionTrue, ""},
		{"unhealthy is not ready", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, Healthy: &healthyFalse}, nil, corev1.PodRunning, corev1.ConditionFalse, ""},
		{"finished", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseFinished}, nil, corev1.PodSucceeded, corev1.ConditionFalse, ""},
		{"failed carries the Mesos reason", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseFailed, Reason: "REASON_COMMAND_EXECUTOR_FAILED", Message: "exit 1"}, nil, corev1.PodFailed, corev1.ConditionFalse, "REASON_COMMAND_EXECUTOR_FAILED"},
		{"failed without a Mesos reason carries the executor's", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseFailed, Message: "Pod was active on the node longer than the specified deadline"}, deadlineStatus, corev1.PodFailed, corev1.ConditionFalse, "DeadlineExceeded"},
		{"gone", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseGone, MesosState: "TASK_GONE"}, nil, corev1.PodFailed, corev1.ConditionFalse, ReasonTaskGone},
		{"unreachable is not ready", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseUnreachable, MesosState: "TASK_UNREACHABLE"}, nil, corev1.PodPending, corev1.ConditionFalse, ReasonAgentUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PodStatusFor(pod, &tc.st, tc.data)
			if got.Phase != tc.phase || got.Reason != tc.reason {
				t.Fatalf("phase %s reason %q, want %s %q", got.Phase, got.Reason, tc.phase, tc.reason)
			}
			if c := conditionOf(&got, corev1.PodReady, "<none>"); c != tc.ready {
				t.Fatalf("Ready = %s, want %s", c, tc.ready)
			}
			if tc.data != nil && json.Valid(tc.data) && (got.PodIP != "10.0.0.9" || got.ContainerStatuses[0].RestartCount != 2) {
				t.Fatalf("executor status not merged: %+v", got)
			}
			if conditionOf(&got, corev1.PodScheduled, "<none>") != corev1.ConditionTrue {
				t.Fatal("a launched pod is not PodScheduled")
			}
			again := PodStatusFor(&corev1.Pod{Status: got}, &tc.st, tc.data)
			if PodStatusChanged(&got, &again) {
				t.Fatal("the same task status gives a different pod status")
			}
		})
	}
}

// A pod that ended stays as it ended: Failed/NodeLost is not undone by what its task
// reports later (running again, killed), nor by a late mirror of the unreachable state.
func TestPodStatusForKeepsAnEndedPod(t *testing.T) {
	lost := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	UnreachableTooLong(&lost.Status)
	for _, st := range []mesosv1alpha1.MesosTaskStatus{
		{Phase: mesosv1alpha1.TaskPhaseUnreachable, MesosState: "TASK_UNREACHABLE"},
		{Phase: mesosv1alpha1.TaskPhaseRunning, MesosState: "TASK_RUNNING"},
	} {
		got := PodStatusFor(lost, &st, nil)
		if got.Phase != corev1.PodFailed || got.Reason != ReasonNodeLost || PodStatusChanged(&lost.Status, &got) {
			t.Errorf("task %s turned a NodeLost pod into %s/%s", st.MesosState, got.Phase, got.Reason)
		}
	}
	// Nor by the kill of the task that came back with its agent.
	st := mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseKilled, MesosState: "TASK_KILLED"}
	if got := PodStatusFor(lost, &st, nil); got.Phase != corev1.PodFailed || got.Reason != ReasonNodeLost {
		t.Errorf("killed task: %s/%s", got.Phase, got.Reason)
	}
}

// TestPodStatusPerState walks the state table in docs/mesos-mapping.md from a Mesos update to the pod.
func TestPodStatusPerState(t *testing.T) {
	for _, tc := range []struct {
		state     mesos.TaskState
		reason    *mesos.TaskStatus_Reason
		phase     corev1.PodPhase
		ready     corev1.ConditionStatus
		podReason string
	}{
		{mesos.TASK_STAGING, nil, corev1.PodPending, corev1.ConditionFalse, ""},
		{mesos.TASK_STARTING, nil, corev1.PodPending, corev1.ConditionFalse, ""},
		{mesos.TASK_RUNNING, nil, corev1.PodRunning, corev1.ConditionTrue, ""},
		{mesos.TASK_KILLING, nil, corev1.PodRunning, corev1.ConditionFalse, ""},
		{mesos.TASK_FINISHED, nil, corev1.PodSucceeded, corev1.ConditionFalse, ""},
		{mesos.TASK_FAILED, mesos.REASON_COMMAND_EXECUTOR_FAILED.Enum(), corev1.PodFailed, corev1.ConditionFalse, "REASON_COMMAND_EXECUTOR_FAILED"},
		{mesos.TASK_ERROR, mesos.REASON_TASK_INVALID.Enum(), corev1.PodFailed, corev1.ConditionFalse, "REASON_TASK_INVALID"},
		{mesos.TASK_KILLED, nil, corev1.PodFailed, corev1.ConditionFalse, ""},
		{mesos.TASK_UNREACHABLE, mesos.REASON_AGENT_DISCONNECTED.Enum(), corev1.PodRunning, corev1.ConditionFalse, ReasonAgentUnreachable},
		{mesos.TASK_LOST, mesos.REASON_AGENT_REMOVED.Enum(), corev1.PodFailed, corev1.ConditionFalse, ReasonTaskGone}, // no unreachable_time: the agent is gone
		{mesos.TASK_GONE, nil, corev1.PodFailed, corev1.ConditionFalse, ReasonTaskGone},
		{mesos.TASK_GONE_BY_OPERATOR, nil, corev1.PodFailed, corev1.ConditionFalse, ReasonTaskGone},
		{mesos.TASK_UNKNOWN, nil, corev1.PodFailed, corev1.ConditionFalse, ReasonTaskGone},
	} {
		t.Run(tc.state.String(), func(t *testing.T) {
			now := metav1.Now()
			pod := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}
			st := &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStaging, LaunchedAt: &now}
			if tc.state != mesos.TASK_STAGING && tc.state != mesos.TASK_STARTING {
				// The task ran first.
				ApplyUpdate(st, update(mesos.TASK_RUNNING, nil, "0000000000000001"), now)
				pod.Status = PodStatusFor(pod, st, nil)
			}
			ts := update(tc.state, tc.reason, "0000000000000002")
			ts.Message = ptr("m")
			ApplyUpdate(st, ts, now)
			got := PodStatusFor(pod, st, nil)
			if got.Phase != tc.phase || got.Reason != tc.podReason {
				t.Errorf("pod phase %s reason %q, want %s %q", got.Phase, got.Reason, tc.phase, tc.podReason)
			}
			if c := conditionOf(&got, corev1.PodReady, "<none>"); c != tc.ready {
				t.Errorf("Ready = %s, want %s", c, tc.ready)
			}
			if c := conditionOf(&got, corev1.PodScheduled, "<none>"); c != corev1.ConditionTrue {
				t.Errorf("PodScheduled = %s, want True", c)
			}
			if tc.state == mesos.TASK_FAILED && got.Message != "m" {
				t.Errorf("message %q, want Mesos's", got.Message)
			}
			if got.StartTime == nil || !got.StartTime.Equal(&now) {
				t.Errorf("start time %v, want the launch time", got.StartTime)
			}
		})
	}
}

func TestPodStatusPending(t *testing.T) {
	const why = "0/3 agents available: 3 insufficient cpus."
	unschedulable := mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhasePending, Conditions: []metav1.Condition{{
		Type: mesosv1alpha1.TaskConditionScheduled, Status: metav1.ConditionFalse, Reason: mesosv1alpha1.ReasonUnschedulable, Message: why}}}
	got := PodStatusFor(&corev1.Pod{}, &unschedulable, nil)
	c := findCondition(&got, corev1.PodScheduled)
	if got.Phase != corev1.PodPending || c == nil || c.Status != corev1.ConditionFalse || c.Reason != corev1.PodReasonUnschedulable || c.Message != why {
		t.Errorf("unschedulable: phase %s, PodScheduled %+v", got.Phase, c)
	}
	queued := PodStatusFor(&corev1.Pod{}, &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhasePending}, nil)
	if queued.Phase != corev1.PodPending || findCondition(&queued, corev1.PodScheduled) != nil {
		t.Errorf("queued: %+v", queued)
	}
}

func findCondition(s *corev1.PodStatus, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

func TestPodStatusMergesExecutorData(t *testing.T) {
	st := &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning}
	known := corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", HostIP: "192.168.0.1",
		ContainerStatuses: []corev1.ContainerStatus{{Name: "c", RestartCount: 1, Ready: true}}}
	for _, tc := range []struct {
		name     string
		data     string
		podIP    string
		restarts int32
		ready    corev1.ConditionStatus
	}{
		{"no data keeps what is known", "", "10.0.0.1", 1, corev1.ConditionTrue},
		{"malformed data is ignored", `{"containerStatuses": [`, "10.0.0.1", 1, corev1.ConditionTrue},
		{"wrong types are ignored", `{"containerStatuses": "x"}`, "10.0.0.1", 1, corev1.ConditionTrue},
		{"an IP alone keeps the container statuses", `{"podIP": "10.0.0.2"}`, "10.0.0.2", 1, corev1.ConditionTrue},
		{"container statuses and readiness", `{"conditions": [{"type": "Ready", "status": "False"}], "containerStatuses": [{"name": "c", "restartCount": 4}]}`, "10.0.0.1", 4, corev1.ConditionFalse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PodStatusFor(&corev1.Pod{Status: known}, st, []byte(tc.data))
			if got.PodIP != tc.podIP || got.HostIP != "192.168.0.1" || len(got.ContainerStatuses) != 1 || got.ContainerStatuses[0].RestartCount != tc.restarts {
				t.Errorf("got IP %s host %s statuses %+v", got.PodIP, got.HostIP, got.ContainerStatuses)
			}
			if c := conditionOf(&got, corev1.PodReady, "<none>"); c != tc.ready {
				t.Errorf("Ready = %s, want %s", c, tc.ready)
			}
		})
	}
}

// An update without the executor's data (the master's, a reconciliation answer) says
// nothing of readiness or containers: a running pod keeps what its executor said last,
// and only a pod its executor never reported on is ready once it runs. A task that ended
// decides them: no container of the pod is ready or running any more.
func TestReadinessWithoutExecutorData(t *testing.T) {
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	crashing := corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
	exited := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}
	cond := func(typ corev1.PodConditionType, s corev1.ConditionStatus, reason string) corev1.PodCondition {
		return corev1.PodCondition{Type: typ, Status: s, Reason: reason}
	}
	said := func(ready bool, state corev1.ContainerState, conds ...corev1.PodCondition) corev1.PodStatus {
		return corev1.PodStatus{Phase: corev1.PodRunning, Conditions: conds,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Ready: ready, RestartCount: 5, State: state}}}
	}
	notReady := cond(corev1.PodReady, corev1.ConditionFalse, "")
	unreachable := cond(corev1.PodReady, corev1.ConditionFalse, ReasonAgentUnreachable)
	for _, tc := range []struct {
		name      string
		pod       corev1.PodStatus
		phase     mesosv1alpha1.TaskPhase
		data      string
		ready     corev1.ConditionStatus
		container corev1.ContainerState
	}{
		{name: "never reported by its executor: ready once running", pod: corev1.PodStatus{Phase: corev1.PodPending},
			phase: mesosv1alpha1.TaskPhaseRunning, ready: corev1.ConditionTrue},
		{name: "the executor said not ready", pod: said(false, crashing, notReady), phase: mesosv1alpha1.TaskPhaseRunning,
			ready: corev1.ConditionFalse, container: crashing},
		{name: "the executor said ready", pod: said(true, running, cond(corev1.PodReady, corev1.ConditionTrue, "")),
			phase: mesosv1alpha1.TaskPhaseRunning, ready: corev1.ConditionTrue, container: running},
		{name: "back from an unreachable agent, not ready before", pod: said(false, crashing, unreachable),
			phase: mesosv1alpha1.TaskPhaseRunning, ready: corev1.ConditionFalse, container: crashing},
		{name: "back from an unreachable agent, ready before", pod: said(true, running, unreachable),
			phase: mesosv1alpha1.TaskPhaseRunning, ready: corev1.ConditionTrue, container: running},
		{name: "the executor's data without readiness: its containers say", pod: said(true, running),
			phase: mesosv1alpha1.TaskPhaseRunning, data: `{"containerStatuses": [{"name": "c", "restartCount": 5, "ready": false, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}`,
			ready: corev1.ConditionFalse, container: crashing},
		{name: "the executor's data decides over what it said before", pod: said(false, crashing, notReady),
			phase: mesosv1alpha1.TaskPhaseRunning, data: `{"conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [{"name": "c", "restartCount": 5, "ready": true, "state": {"running": {}}}]}`,
			ready: corev1.ConditionTrue, container: running},
		{name: "killed without the executor's word: the container ends", pod: said(true, running, cond(corev1.PodReady, corev1.ConditionTrue, "")),
			phase: mesosv1alpha1.TaskPhaseKilled, ready: corev1.ConditionFalse,
			container: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: ReasonContainerStatusUnknown}}},
		{name: "finished as the executor said", pod: said(true, running), phase: mesosv1alpha1.TaskPhaseFinished,
			data:  `{"containerStatuses": [{"name": "c", "restartCount": 5, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}`,
			ready: corev1.ConditionFalse, container: exited},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var data []byte
			if tc.data != "" {
				data = []byte(tc.data)
			}
			st := &mesosv1alpha1.MesosTaskStatus{Phase: tc.phase, MesosState: "TASK_" + string(tc.phase)}
			got := PodStatusFor(&corev1.Pod{Status: tc.pod}, st, data)
			for _, typ := range []corev1.PodConditionType{corev1.PodReady, corev1.ContainersReady} {
				if c := conditionOf(&got, typ, "<none>"); c != tc.ready {
					t.Errorf("%s = %s, want %s", typ, c, tc.ready)
				}
			}
			if len(tc.pod.ContainerStatuses) == 0 {
				if len(got.ContainerStatuses) != 0 {
					t.Errorf("container statuses made up: %+v", got.ContainerStatuses)
				}
				return
			}
			c := got.ContainerStatuses[0]
			if c.RestartCount != 5 || c.Ready != (tc.ready == corev1.ConditionTrue) {
				t.Errorf("container restarts %d ready %v, want 5, %v", c.RestartCount, c.Ready, tc.ready == corev1.ConditionTrue)
			}
			if (c.State.Running != nil) != (tc.container.Running != nil) || (c.State.Waiting != nil) != (tc.container.Waiting != nil) ||
				(c.State.Terminated == nil) != (tc.container.Terminated == nil) ||
				(c.State.Terminated != nil && (c.State.Terminated.ExitCode != tc.container.Terminated.ExitCode || c.State.Terminated.Reason != tc.container.Terminated.Reason)) {
				t.Errorf("container state %+v, want %+v", c.State, tc.container)
			}
		})
	}
}

// A native sidecar (a restartable init container) the executor found not ready keeps
// the pod not ready through an update without its data, as its main containers do: a
// reconciliation answer, or a burst's deferred MesosTask create written later.
func TestANotReadySidecarKeepsThePodNotReadyWithoutExecutorData(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	for _, tc := range []struct {
		name         string
		sidecarReady bool
		want         corev1.ConditionStatus
	}{
		{name: "the sidecar not ready", want: corev1.ConditionFalse},
		{name: "the sidecar ready", sidecarReady: true, want: corev1.ConditionTrue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{
				Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "s", RestartPolicy: &always}},
					Containers: []corev1.Container{{Name: "c"}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning,
					InitContainerStatuses: []corev1.ContainerStatus{{Name: "s", Ready: tc.sidecarReady, State: running}},
					ContainerStatuses:     []corev1.ContainerStatus{{Name: "c", Ready: true, State: running}}}}
			st := &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, MesosState: "TASK_RUNNING"}
			got := PodStatusFor(pod, st, nil)
			for _, typ := range []corev1.PodConditionType{corev1.ContainersReady, corev1.PodReady} {
				if c := conditionOf(&got, typ, "<none>"); c != tc.want {
					t.Errorf("%s = %s, want %s", typ, c, tc.want)
				}
			}
		})
	}
}

// A pod whose agent stayed unreachable too long fails with reason NodeLost, and shows
// nothing running: its containers ended as a kubelet ends those it cannot find, and it is
// not ready.
func TestUnreachableTooLong(t *testing.T) {
	st := &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseUnreachable, MesosState: "TASK_UNREACHABLE"}
	running := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning,
		ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Ready: true, Started: ptr(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}}
	s := PodStatusFor(running, st, nil)
	UnreachableTooLong(&s)
	if s.Phase != corev1.PodFailed || s.Reason != ReasonNodeLost || s.Message == "" {
		t.Errorf("%+v", s)
	}
	for _, typ := range []corev1.PodConditionType{corev1.ContainersReady, corev1.PodReady} {
		if c := findCondition(&s, typ); c == nil || c.Status != corev1.ConditionFalse || c.Reason != ReasonPodFailed {
			t.Errorf("%s = %+v, want False/%s", typ, c, ReasonPodFailed)
		}
	}
	if c := s.ContainerStatuses[0]; c.Ready || c.State.Running != nil || c.State.Terminated == nil ||
		c.State.Terminated.Reason != ReasonContainerStatusUnknown || c.State.Terminated.ExitCode != 137 {
		t.Errorf("the container of a lost pod: %+v", c)
	}
}

func TestPodStatusChanged(t *testing.T) {
	started := metav1.NewTime(time.Unix(1000, 0))
	base := corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &started,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}}
	for _, tc := range []struct {
		name   string
		change func(*corev1.PodStatus)
		want   bool
	}{
		{"nothing", func(*corev1.PodStatus) {}, false},
		{"condition times only", func(s *corev1.PodStatus) {
			s.Conditions[0].LastTransitionTime = metav1.NewTime(time.Unix(1, 0))
			s.Conditions[0].LastProbeTime = metav1.NewTime(time.Unix(2, 0))
		}, false},
		{"condition status", func(s *corev1.PodStatus) { s.Conditions[0].Status = corev1.ConditionFalse }, true},
		{"phase", func(s *corev1.PodStatus) { s.Phase = corev1.PodFailed }, true},
		{"message", func(s *corev1.PodStatus) { s.Message = "x" }, true},
		{"container statuses", func(s *corev1.PodStatus) { s.ContainerStatuses = []corev1.ContainerStatus{{Name: "c"}} }, true},
		{"condition reason", func(s *corev1.PodStatus) { s.Conditions[0].Reason = "ContainersNotReady" }, true},
		{"condition observed generation", func(s *corev1.PodStatus) { s.Conditions[0].ObservedGeneration = 2 }, true},
		{"a condition more", func(s *corev1.PodStatus) {
			s.Conditions = append(s.Conditions, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue})
		}, true},
		{"conditions in another order", func(s *corev1.PodStatus) {
			s.Conditions = append([]corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}, s.Conditions...)
		}, true},
		{"start time, the same instant elsewhere", func(s *corev1.PodStatus) {
			s.StartTime = &metav1.Time{Time: started.In(time.FixedZone("east", 3600))}
		}, false},
		{"start time", func(s *corev1.PodStatus) { s.StartTime = &metav1.Time{Time: started.Add(time.Second)} }, true},
		{"observed generation", func(s *corev1.PodStatus) { s.ObservedGeneration = 3 }, true},
		{"an empty list of container statuses", func(s *corev1.PodStatus) { s.ContainerStatuses = []corev1.ContainerStatus{} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := base.DeepCopy()
			tc.change(b)
			if got := PodStatusChanged(&base, b); got != tc.want {
				t.Errorf("PodStatusChanged = %v, want %v", got, tc.want)
			}
			if got := PodStatusChanged(b, &base); got != tc.want {
				t.Errorf("PodStatusChanged the other way = %v, want %v", got, tc.want)
			}
		})
	}
	// Neither status is changed.
	a, b := base.DeepCopy(), base.DeepCopy()
	b.Conditions[0].LastTransitionTime = metav1.NewTime(time.Unix(1, 0))
	if PodStatusChanged(a, b) || !equality.Semantic.DeepEqual(a, &base) || b.Conditions[0].LastTransitionTime.Unix() != 1 {
		t.Errorf("PodStatusChanged changed its statuses: %v, %v", a, b)
	}
}

func TestPodReady(t *testing.T) {
	cond := func(typ corev1.PodConditionType, s corev1.ConditionStatus) corev1.PodCondition {
		return corev1.PodCondition{Type: typ, Status: s}
	}
	for _, tc := range []struct {
		name       string
		conditions []corev1.PodCondition
		want       bool
	}{
		{"no conditions", nil, false},
		{"Ready True", []corev1.PodCondition{cond(corev1.PodScheduled, corev1.ConditionTrue), cond(corev1.PodReady, corev1.ConditionTrue)}, true},
		{"Ready False", []corev1.PodCondition{cond(corev1.PodReady, corev1.ConditionFalse)}, false},
		{"Ready Unknown", []corev1.PodCondition{cond(corev1.PodReady, corev1.ConditionUnknown)}, false},
		{"only others True", []corev1.PodCondition{cond(corev1.ContainersReady, corev1.ConditionTrue)}, false},
	} {
		if got := PodReady(&corev1.PodStatus{Conditions: tc.conditions}); got != tc.want {
			t.Errorf("%s: PodReady = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A killed task of a deleted pod whose containers all exited 0 when stopped leaves the
// pod Succeeded, as a kubelet leaves a deleted pod so (its getPhase once the pod is
// terminal): a Job counts it as a completion. Any other exit, a container not said to
// have ended, no word from the executor (the master's update), or a kill the pod's
// deletion did not ask for (the executor stopped, the agent drained: a kubelet's pod is
// Failed when its node shuts down) leaves it Failed.
func TestAKilledTaskWhoseContainersExitedZeroSucceeds(t *testing.T) {
	ended := func(code int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: "c", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
	}
	data := func(cs ...corev1.ContainerStatus) []byte {
		b, _ := json.Marshal(corev1.PodStatus{ContainerStatuses: cs, InitContainerStatuses: []corev1.ContainerStatus{ended(1)}})
		return b
	}
	running := corev1.ContainerStatus{Name: "c", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	for _, tc := range []struct {
		name    string
		data    []byte
		deleted bool
		want    corev1.PodPhase
	}{
		{"deleted, every container exited 0", data(ended(0), ended(0)), true, corev1.PodSucceeded},
		{"not deleted, every container exited 0", data(ended(0), ended(0)), false, corev1.PodFailed},
		{"deleted, one exited 143", data(ended(0), ended(143)), true, corev1.PodFailed},
		{"deleted, one still said to run", data(ended(0), running), true, corev1.PodFailed},
		{"deleted, no container statuses", data(), true, corev1.PodFailed},
		{"deleted, no word from the executor", nil, true, corev1.PodFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := metav1.Now()
			st := &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, PodPhase: corev1.PodRunning, MesosState: "TASK_RUNNING", LaunchedAt: &now}
			ts := update(mesos.TASK_KILLED, mesos.REASON_EXECUTOR_TERMINATED.Enum(), "0123456789abcdef")
			ts.Data = tc.data
			ApplyUpdate(st, ts, now)
			pod := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}
			if tc.deleted {
				pod.DeletionTimestamp = &now
			}
			got := PodStatusFor(pod, st, tc.data)
			if got.Phase != tc.want || (tc.want == corev1.PodSucceeded && got.Reason != "") || (tc.want == corev1.PodFailed && got.Reason == "") {
				t.Errorf("the pod is %s (reason %q), want %s", got.Phase, got.Reason, tc.want)
			}
			// The MesosTask, written before the pod, says the phase the pod gets.
			MirrorStoppedPod(st, pod, tc.data)
			if st.PodPhase != tc.want {
				t.Errorf("the MesosTask's podPhase is %s, want the pod's %s", st.PodPhase, tc.want)
			}
		})
	}
}

// A deleted pod's containers serve on while it is stopped, and its Ready says so as a
// kubelet's does: a kubelet probes readiness through a pod's termination, and an
// EndpointSlice lists a terminating pod as serving while its Ready is True (kube-proxy
// sends a Service's traffic to such endpoints when it has no other). A pod killed without
// its deletion (its agent drained, its executor stopped) is not ready at once: nothing
// else takes it out of its Services' endpoints.
func TestADeletedPodBeingKilledKeepsItsReadiness(t *testing.T) {
	deleted := metav1.Now()
	ready := `{"conditions": [{"type": "ContainersReady", "status": "True"}, {"type": "Ready", "status": "True"}], "containerStatuses": [{"name": "c", "ready": true, "state": {"running": {}}}]}`
	notReady := `{"conditions": [{"type": "ContainersReady", "status": "False"}, {"type": "Ready", "status": "False"}], "containerStatuses": [{"name": "c", "ready": false, "state": {"running": {}}}]}`
	for _, tc := range []struct {
		name    string
		deleted *metav1.Time
		data    string
		want    corev1.ConditionStatus
	}{
		{"deleted, its executor says ready", &deleted, ready, corev1.ConditionTrue},
		{"deleted, its executor says not ready", &deleted, notReady, corev1.ConditionFalse},
		{"deleted, no word from its executor: its containers say", &deleted, "", corev1.ConditionTrue},
		{"killed, not deleted", nil, ready, corev1.ConditionFalse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: tc.deleted},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning,
					Conditions:        []corev1.PodCondition{{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue}},
					ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
			}
			var data []byte
			if tc.data != "" {
				data = []byte(tc.data)
			}
			st := &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseKilling, MesosState: "TASK_KILLING"}
			got := PodStatusFor(pod, st, data)
			for _, typ := range []corev1.PodConditionType{corev1.PodReady, corev1.ContainersReady} {
				if c := conditionOf(&got, typ, "<none>"); c != tc.want {
					t.Errorf("%s = %s, want %s", typ, c, tc.want)
				}
			}
			if got.Phase != corev1.PodRunning {
				t.Errorf("phase = %s, want Running", got.Phase)
			}
		})
	}
}

// A task whose pod's Node was deleted before it ran ends Gone, and its pod Failed with
// NodeLost and the operator's message (Mesos said nothing of it).
func TestAPodWhoseNodeWasDeletedBeforeItRanFails(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{NodeName: "mesos-c-agent-1", Containers: []corev1.Container{{Name: "c"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending}}
	st := NodeDeleted(mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhasePending, MesosState: "TASK_DROPPED", Reason: "REASON_INVALID_OFFERS"},
		"mesos-c-agent-1", metav1.Now())
	if st.Phase != mesosv1alpha1.TaskPhaseGone || st.PodPhase != corev1.PodFailed || st.FinishedAt == nil || st.MesosState != "TASK_DROPPED" {
		t.Fatalf("task status %+v, want Gone, its pod Failed, finished, its Mesos state kept", st)
	}
	got := PodStatusFor(pod, &st, nil)
	if got.Phase != corev1.PodFailed || got.Reason != ReasonNodeLost || got.Message != NodeDeletedMessage("mesos-c-agent-1") {
		t.Fatalf("pod %s %s %q, want Failed %s %q", got.Phase, got.Reason, got.Message, ReasonNodeLost, NodeDeletedMessage("mesos-c-agent-1"))
	}
}
