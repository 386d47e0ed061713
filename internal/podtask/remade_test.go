package podtask

import (
	"fmt"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// A record a new leader makes from a pod before asking Mesos is what the record made
// from Mesos's answer would say, so that an answer of the same state, agent, executor and
// health changes nothing; an answer that says otherwise still changes it.
func TestARemadeRecordIsWhatMesossAnswerWouldMake(t *testing.T) {
	at, ptr := minuteAt, timePtr
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}}
	executor := ExecutorID(mc)
	pod := func(s corev1.PodStatus) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1"},
			Spec: corev1.PodSpec{NodeName: "agent-node", Containers: []corev1.Container{{Name: "c", Image: "i",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}},
			Status: s}
	}
	probed := func(s corev1.PodStatus) *corev1.Pod {
		p := pod(s)
		p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
		return p
	}
	running := corev1.PodStatus{Phase: corev1.PodRunning, StartTime: ptr(at(2)),
		Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: at(1)},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: at(3)}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(3)}}}}}
	notReady := *running.DeepCopy()
	notReady.Conditions[1].Status = corev1.ConditionFalse
	healthy := func(ts mesos.TaskStatus, h bool) mesos.TaskStatus {
		ts.Healthy = &h
		return ts
	}
	starting := corev1.PodStatus{Phase: corev1.PodPending, StartTime: ptr(at(2)),
		Conditions: []corev1.PodCondition{{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: at(4)}}}
	answer := func(state mesos.TaskState, agent, executor string) mesos.TaskStatus {
		msg := "Reconciliation: Latest task state"
		return mesos.TaskStatus{TaskID: mesos.TaskID{Value: "k8sm.u1"}, State: state.Enum(), AgentID: &mesos.AgentID{Value: agent},
			ExecutorID: &mesos.ExecutorID{Value: executor}, Source: mesos.SOURCE_MASTER.Enum(), Reason: mesos.REASON_RECONCILIATION.Enum(), Message: &msg}
	}
	now := at(30)
	running1 := answer(mesos.TASK_RUNNING, "a1", executor)
	for _, tc := range []struct {
		name    string
		pod     *corev1.Pod
		answer  mesos.TaskStatus
		phase   mesosv1alpha1.TaskPhase
		changes bool
	}{
		{"running, Mesos says so", pod(running), running1, mesosv1alpha1.TaskPhaseRunning, false},
		{"starting, Mesos says so", pod(starting), answer(mesos.TASK_STARTING, "a1", executor), mesosv1alpha1.TaskPhaseStarting, false},
		{"starting, Mesos says running", pod(starting), running1, mesosv1alpha1.TaskPhaseStarting, true},
		{"running, Mesos says gone", pod(running), answer(mesos.TASK_GONE, "a1", executor), mesosv1alpha1.TaskPhaseRunning, true},
		{"running, on another agent than its Node says", pod(running), answer(mesos.TASK_RUNNING, "a9", executor), mesosv1alpha1.TaskPhaseRunning, true},
		{"running in an earlier executor", pod(running), answer(mesos.TASK_RUNNING, "a1", "k8sm-executor-c-0000000000"), mesosv1alpha1.TaskPhaseRunning, true},
		{"probed and ready, Mesos says healthy", probed(running), healthy(running1, true), mesosv1alpha1.TaskPhaseRunning, false},
		{"probed and not ready, Mesos says unhealthy", probed(notReady), healthy(running1, false), mesosv1alpha1.TaskPhaseRunning, false},
		{"probed and not ready, Mesos says healthy", probed(notReady), healthy(running1, true), mesosv1alpha1.TaskPhaseRunning, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.pod
			mt, ok := Remade(p, mc, "a1", "host-1", now)
			if !ok {
				t.Fatal("no record made")
			}
			st := &mt.Status
			if st.Phase != tc.phase || st.PodPhase != PodPhaseFor(tc.phase, p.Status.Phase) || st.AgentID != "a1" || st.Hostname != "host-1" ||
				st.ExecutorID != executor || mt.Spec.ExecutorID != executor || mt.Spec.TaskID != TaskIDFor(p) {
				t.Fatalf("remade %+v, spec %+v", st, mt.Spec)
			}
			if !meta.IsStatusConditionTrue(st.Conditions, mesosv1alpha1.TaskConditionScheduled) || st.LaunchedAt == nil || !st.LaunchedAt.Equal(ptr(at(2))) {
				t.Errorf("launch not recorded: %+v", st)
			}

			// The record made today from the answer: NewMesosTask, FromPod, the answer, the launch.
			made, err := NewMesosTask(p, mc, "")
			if err != nil {
				t.Fatal(err)
			}
			FromPod(&made.Status, p)
			ApplyUpdate(&made.Status, tc.answer, now)
			FillLaunch(&made.Status, Launch{At: now, AgentID: "a1", Hostname: "host-1"}, 0)

			changed := ApplyUpdate(st, tc.answer, now)
			if changed != tc.changes {
				t.Fatalf("the answer changed the remade record: %v, want %v", changed, tc.changes)
			}
			for what, pair := range map[string][2]any{
				"phase": {st.Phase, made.Status.Phase}, "pod phase": {st.PodPhase, made.Status.PodPhase},
				"state": {st.MesosState, made.Status.MesosState}, "agent": {st.AgentID, made.Status.AgentID},
				"executor": {st.ExecutorID, made.Status.ExecutorID}, "host": {st.Hostname, made.Status.Hostname},
				"launched": {fmt.Sprint(st.LaunchedAt), fmt.Sprint(made.Status.LaunchedAt)},
				"started":  {fmt.Sprint(st.StartedAt), fmt.Sprint(made.Status.StartedAt)},
				"healthy":  {fmt.Sprint(ptrValue(st.Healthy)), fmt.Sprint(ptrValue(made.Status.Healthy))},
			} {
				if pair[0] != pair[1] {
					t.Errorf("%s: the remade record says %v after the answer, the one made from it %v", what, pair[0], pair[1])
				}
			}
		})
	}
	for _, tc := range []struct {
		name   string
		status corev1.PodStatus
		agent  string
	}{
		{"nothing reported yet", corev1.PodStatus{Phase: corev1.PodPending}, "a1"},
		{"no agent known", running, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if mt, ok := Remade(pod(tc.status), mc, tc.agent, "host-1", now); ok {
				t.Errorf("a record made: %+v", mt.Status)
			}
		})
	}
}

// ptrValue is what p points to, or "nil".
func ptrValue[T any](p *T) any {
	if p == nil {
		return "nil"
	}
	return *p
}
