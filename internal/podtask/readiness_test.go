package podtask

import (
	"encoding/json"
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// ContainersReady and Ready say why they are False in the kubelet's words, and Ready
// waits for the pod's readiness gates.
func TestPodReadinessAsAKubeletSaysIt(t *testing.T) {
	const gate corev1.PodConditionType = "example.com/lb-registered"
	containers := func(ready ...bool) []byte {
		var cs []corev1.ContainerStatus
		for i, r := range ready {
			cs = append(cs, corev1.ContainerStatus{Name: []string{"a", "b"}[i], Ready: r,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}})
		}
		b, _ := json.Marshal(corev1.PodStatus{ContainerStatuses: cs})
		return b
	}
	type cond struct {
		status         corev1.ConditionStatus
		reason, substr string
	}
	for _, tc := range []struct {
		name                   string
		state                  mesos.TaskState
		data                   []byte
		gated                  bool
		gateStatus             corev1.ConditionStatus // "" for no such condition
		containersReady, ready cond
	}{
		{name: "running and ready", state: mesos.TASK_RUNNING, data: containers(true, true),
			containersReady: cond{status: corev1.ConditionTrue}, ready: cond{status: corev1.ConditionTrue}},
		{name: "a container not ready", state: mesos.TASK_RUNNING, data: containers(true, false),
			containersReady: cond{corev1.ConditionFalse, ReasonContainersNotReady, "containers with unready status: [b]"},
			ready:           cond{corev1.ConditionFalse, ReasonContainersNotReady, "containers with unready status: [b]"}},
		{name: "a gate without its condition", state: mesos.TASK_RUNNING, data: containers(true, true), gated: true,
			containersReady: cond{status: corev1.ConditionTrue},
			ready:           cond{corev1.ConditionFalse, ReasonReadinessGatesNotReady, `readiness gate "example.com/lb-registered" does not exist`}},
		{name: "a gate False", state: mesos.TASK_RUNNING, data: containers(true, true), gated: true, gateStatus: corev1.ConditionFalse,
			containersReady: cond{status: corev1.ConditionTrue},
			ready:           cond{corev1.ConditionFalse, ReasonReadinessGatesNotReady, `is not "True", but False`}},
		{name: "a gate True", state: mesos.TASK_RUNNING, data: containers(true, true), gated: true, gateStatus: corev1.ConditionTrue,
			containersReady: cond{status: corev1.ConditionTrue}, ready: cond{status: corev1.ConditionTrue}},
		{name: "finished", state: mesos.TASK_FINISHED,
			containersReady: cond{corev1.ConditionFalse, ReasonPodCompleted, ""}, ready: cond{corev1.ConditionFalse, ReasonPodCompleted, ""}},
		{name: "failed", state: mesos.TASK_FAILED,
			containersReady: cond{corev1.ConditionFalse, ReasonPodFailed, ""}, ready: cond{corev1.ConditionFalse, ReasonPodFailed, ""}},
		{name: "its agent unreachable", state: mesos.TASK_UNREACHABLE,
			containersReady: cond{corev1.ConditionFalse, ReasonAgentUnreachable, ""}, ready: cond{corev1.ConditionFalse, ReasonAgentUnreachable, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := metav1.Now()
			pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}, {Name: "b"}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning}}
			if tc.gated {
				pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: gate}}
			}
			if tc.gateStatus != "" {
				pod.Status.Conditions = []corev1.PodCondition{{Type: gate, Status: tc.gateStatus}}
			}
			st := &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, PodPhase: corev1.PodRunning, MesosState: "TASK_RUNNING", LaunchedAt: &now}
			ts := update(tc.state, nil, "0123456789abcdef")
			ts.Data = tc.data
			ApplyUpdate(st, ts, now)
			got := PodStatusFor(pod, st, tc.data)
			for _, c := range []struct {
				t    corev1.PodConditionType
				want cond
			}{{corev1.ContainersReady, tc.containersReady}, {corev1.PodReady, tc.ready}} {
				pc := podCondition(&got, c.t)
				if pc == nil || pc.Status != c.want.status || pc.Reason != c.want.reason || !strings.Contains(pc.Message, c.want.substr) {
					t.Errorf("%s = %+v, want %s %q with %q", c.t, pc, c.want.status, c.want.reason, c.want.substr)
				}
			}
		})
	}
}

// A gate's condition set by another controller makes a running pod whose containers are
// ready Ready, and its unsetting makes it not Ready; a pod without gates, or whose
// containers are not ready, is left alone.
func TestGatedReadiness(t *testing.T) {
	const gate corev1.PodConditionType = "example.com/lb-registered"
	pod := func(gates bool, containersReady, ready, gateStatus corev1.ConditionStatus) *corev1.Pod {
		p := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.ContainersReady, Status: containersReady}, {Type: corev1.PodReady, Status: ready}}}}
		if gates {
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: gate}}
		}
		if gateStatus != "" {
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: gate, Status: gateStatus})
		}
		return p
	}
	T, F := corev1.ConditionTrue, corev1.ConditionFalse
	for _, tc := range []struct {
		name    string
		pod     *corev1.Pod
		changed bool
		ready   corev1.ConditionStatus
	}{
		{"the gate turned True", pod(true, T, F, T), true, T},
		{"the gate turned False", pod(true, T, T, F), true, F},
		{"the gate's condition went", pod(true, T, T, ""), true, F},
		{"already so", pod(true, T, T, T), false, ""},
		{"containers not ready", pod(true, F, F, T), false, ""},
		{"no gates", pod(false, T, F, ""), false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := GatedReadiness(tc.pod)
			if changed != tc.changed {
				t.Fatalf("changed = %v, want %v", changed, tc.changed)
			}
			if changed && conditionOf(&got, corev1.PodReady, "") != tc.ready {
				t.Errorf("Ready = %s, want %s", conditionOf(&got, corev1.PodReady, ""), tc.ready)
			}
		})
	}
}

// A running pod whose Ready the node lifecycle controller set False (its Node went
// NotReady while no manager renewed it; the condition keeps the empty reason it had) is
// Ready again as soon as its task's status says so; a pod whose Ready agrees with its
// task is left alone, and so is one whose task does not run. So is a Ready k8sm wrote
// (True, or False with a reason of its own), whatever the MesosTask read says: the
// scheduler wrote it from an update that MesosTask may not show yet.
func TestRestoredReadiness(t *testing.T) {
	const gate corev1.PodConditionType = "example.com/lb-registered"
	T, F := corev1.ConditionTrue, corev1.ConditionFalse
	healthy, unhealthy := true, false
	for _, tc := range []struct {
		name           string
		task           mesosv1alpha1.TaskPhase
		healthy        *bool
		containerReady bool
		ready          corev1.ConditionStatus // the pod's Ready before
		reason         string                 // its reason
		gate           corev1.ConditionStatus // the gate's condition; "" for a pod without gates
		changed        bool
		want           corev1.ConditionStatus
	}{
		{name: "marked not ready by the node lifecycle", task: mesosv1alpha1.TaskPhaseRunning, containerReady: true, ready: F, changed: true, want: T},
		{name: "marked not ready, a gate True", task: mesosv1alpha1.TaskPhaseRunning, containerReady: true, ready: F, gate: T, changed: true, want: T},
		{name: "marked not ready, a gate False", task: mesosv1alpha1.TaskPhaseRunning, containerReady: true, ready: F, gate: F},
		{name: "marked not ready, the task unhealthy", task: mesosv1alpha1.TaskPhaseRunning, healthy: &unhealthy, containerReady: true, ready: F},
		{name: "marked not ready, the task healthy", task: mesosv1alpha1.TaskPhaseRunning, healthy: &healthy, containerReady: true, ready: F, changed: true, want: T},
		{name: "a container not ready", task: mesosv1alpha1.TaskPhaseRunning, ready: F},
		{name: "ready already", task: mesosv1alpha1.TaskPhaseRunning, containerReady: true, ready: T},
		{name: "ready, though a container is not", task: mesosv1alpha1.TaskPhaseRunning, ready: T},
		{name: "marked not ready by another, with a reason", task: mesosv1alpha1.TaskPhaseRunning, containerReady: true, ready: F, reason: "NodeNotReady", changed: true, want: T},
		{name: "found unreachable by k8sm", task: mesosv1alpha1.TaskPhaseRunning, containerReady: true, ready: F, reason: ReasonAgentUnreachable},
		{name: "found not ready by k8sm", task: mesosv1alpha1.TaskPhaseRunning, containerReady: true, ready: F, reason: ReasonContainersNotReady},
		{name: "gated by k8sm", task: mesosv1alpha1.TaskPhaseRunning, containerReady: true, ready: F, reason: ReasonReadinessGatesNotReady},
		{name: "the agent unreachable", task: mesosv1alpha1.TaskPhaseUnreachable, containerReady: true, ready: F},
		{name: "the task being killed", task: mesosv1alpha1.TaskPhaseKilling, containerReady: true, ready: F},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning,
					Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: T}, {Type: corev1.PodInitialized, Status: T},
						{Type: corev1.ContainersReady, Status: conditionStatus(tc.containerReady)}, {Type: corev1.PodReady, Status: tc.ready, Reason: tc.reason}},
					ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Ready: tc.containerReady,
						State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}}
			if tc.gate != "" {
				pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: gate}}
				pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{Type: gate, Status: tc.gate})
			}
			st := &mesosv1alpha1.MesosTaskStatus{Phase: tc.task, MesosState: "TASK_RUNNING", Healthy: tc.healthy}

			got, changed := RestoredReadiness(pod, st)

			if changed != tc.changed {
				t.Fatalf("changed = %v, want %v", changed, tc.changed)
			}
			if changed && conditionOf(&got, corev1.PodReady, "") != tc.want {
				t.Errorf("Ready = %s, want %s", conditionOf(&got, corev1.PodReady, ""), tc.want)
			}
			if changed && got.Phase != corev1.PodRunning {
				t.Errorf("phase = %s, want Running", got.Phase)
			}
		})
	}
}

func conditionStatus(b bool) corev1.ConditionStatus {
	if b {
		return corev1.ConditionTrue
	}
	return corev1.ConditionFalse
}
