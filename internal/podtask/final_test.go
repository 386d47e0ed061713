package podtask

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// A deleted pod gets a terminal phase before it is removed, as from a kubelet: the one
// its task ended with, Failed when the task never ran or its end is not known, and the
// one it has when it ended already.
func TestFinalPodStatus(t *testing.T) {
	running := corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
		{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}
	queued := corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: "0/1 agents available"}}}
	lost := *running.DeepCopy()
	UnreachableTooLong(&lost)
	for _, tc := range []struct {
		name       string
		pod        corev1.PodStatus
		st         *mesosv1alpha1.MesosTaskStatus
		phase      corev1.PodPhase
		reason     string
		containers bool // the container ended (ContainerStatusUnknown)
	}{
		{name: "finished", pod: running, st: &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseFinished},
			phase: corev1.PodSucceeded, containers: true},
		{name: "killed", pod: running, st: &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseKilled, Reason: "REASON_TASK_KILLED_DURING_LAUNCH"},
			phase: corev1.PodFailed, reason: "REASON_TASK_KILLED_DURING_LAUNCH", containers: true},
		{name: "never launched", pod: queued, phase: corev1.PodFailed},
		{name: "sent back by Mesos", pod: queued, st: &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhasePending}, phase: corev1.PodFailed},
		{name: "its end not known (its cluster went)", pod: running, st: &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning},
			phase: corev1.PodFailed, containers: true},
		{name: "ended already", pod: lost, st: &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseKilled},
			phase: corev1.PodFailed, reason: ReasonNodeLost, containers: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Status: *tc.pod.DeepCopy()}
			got := FinalPodStatus(pod, tc.st, nil)
			if got.Phase != tc.phase || got.Reason != tc.reason {
				t.Errorf("phase %s reason %q, want %s %q", got.Phase, got.Reason, tc.phase, tc.reason)
			}
			for _, typ := range []corev1.PodConditionType{corev1.PodReady, corev1.ContainersReady} {
				if c := conditionOf(&got, typ, corev1.ConditionFalse); c != corev1.ConditionFalse {
					t.Errorf("%s = %s, want False", typ, c)
				}
			}
			if c := findCondition(&got, corev1.PodScheduled); !equalCondition(c, findCondition(&tc.pod, corev1.PodScheduled)) {
				t.Errorf("PodScheduled changed: %+v", c)
			}
			if ended := len(got.ContainerStatuses) == 1 && got.ContainerStatuses[0].State.Terminated != nil &&
				got.ContainerStatuses[0].State.Terminated.Reason == ReasonContainerStatusUnknown && !got.ContainerStatuses[0].Ready; ended != tc.containers {
				t.Errorf("container ended %v, want %v: %+v", ended, tc.containers, got.ContainerStatuses)
			}
			if PodStatusChanged(&pod.Status, &got) != (tc.reason != ReasonNodeLost) {
				t.Errorf("a status write for %s: %v", tc.name, PodStatusChanged(&pod.Status, &got))
			}
		})
	}
}

func equalCondition(a, b *corev1.PodCondition) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Status == b.Status && a.Reason == b.Reason && a.Message == b.Message
}
