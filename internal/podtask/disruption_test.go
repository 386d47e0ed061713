package podtask

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// A pod Mesos ended (its agent gone, drained, restarted, its framework removed) carries
// DisruptionTarget, so that a Job's podFailurePolicy can leave it out of its
// backoffLimit; a pod that failed by itself, or ended for its deletion, does not.
func TestPodsMesosEndedAreDisruptions(t *testing.T) {
	now := metav1.Now()
	running := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	deleted := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	for _, tc := range []struct {
		name    string
		pod     *corev1.Pod
		st      mesosv1alpha1.MesosTaskStatus
		want    bool
		message string
	}{
		{"its agent gone", running, mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseGone, MesosState: "TASK_GONE", Reason: "REASON_AGENT_REMOVED", Message: "Agent removed"},
			true, "Mesos ended the task (TASK_GONE, REASON_AGENT_REMOVED): Agent removed"},
		{"its agent marked gone by an operator", running, mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseGone, MesosState: "TASK_GONE_BY_OPERATOR"}, true, "Mesos ended the task (TASK_GONE_BY_OPERATOR)"},
		{"its framework removed", running, EndedWithFramework(mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, MesosState: "TASK_RUNNING"}, "fw-1", now),
			true, FrameworkRemovedMessage("fw-1")},
		{"its Node deleted before it ran", running, NodeDeleted(mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhasePending, MesosState: "TASK_DROPPED"}, "mesos-c-agent-1", now),
			true, NodeDeletedMessage("mesos-c-agent-1")},
		{"killed as its agent drains", running, mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseKilled, MesosState: "TASK_KILLED", Reason: "REASON_AGENT_DRAINING"}, true, "Mesos ended the task (TASK_KILLED, REASON_AGENT_DRAINING)"},
		{"failed as its agent restarted", running, mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseFailed, MesosState: "TASK_FAILED", Reason: "REASON_AGENT_RESTARTED"}, true, "Mesos ended the task (TASK_FAILED, REASON_AGENT_RESTARTED)"},
		{"its container preempted", running, mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseKilled, MesosState: "TASK_KILLED", Reason: "REASON_CONTAINER_PREEMPTED"}, true, "Mesos ended the task (TASK_KILLED, REASON_CONTAINER_PREEMPTED)"},
		{"failed by itself", running, mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseFailed, MesosState: "TASK_FAILED", Reason: "REASON_COMMAND_EXECUTOR_FAILED"}, false, ""},
		{"out of memory", running, mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseFailed, MesosState: "TASK_FAILED", Reason: "REASON_CONTAINER_LIMITATION_MEMORY"}, false, ""},
		{"killed without a reason: its executor shut down", running, mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseKilled, MesosState: "TASK_KILLED"}, true, "Mesos ended the task (TASK_KILLED)"},
		{"killed without a reason as it was deleted", deleted, mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseKilled, MesosState: "TASK_KILLED"}, false, ""},
		{"failed as its executor missed its agent's restart", running, mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseFailed, MesosState: "TASK_FAILED", Reason: "REASON_EXECUTOR_REREGISTRATION_TIMEOUT"},
			true, "Mesos ended the task (TASK_FAILED, REASON_EXECUTOR_REREGISTRATION_TIMEOUT)"},
		{"failed as its executor ended", running, mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseFailed, MesosState: "TASK_FAILED", Reason: "REASON_EXECUTOR_TERMINATED"}, false, ""},
		{"gone while being deleted", deleted, mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseGone, MesosState: "TASK_GONE"}, false, ""},
		{"finished", running, mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseFinished, MesosState: "TASK_FINISHED"}, false, ""},
		{"unreachable, not ended yet", running, mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseUnreachable, MesosState: "TASK_UNREACHABLE", Reason: "REASON_AGENT_REMOVED"}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PodStatusFor(tc.pod, &tc.st, nil)
			c := podCondition(&got, corev1.DisruptionTarget)
			if (c != nil) != tc.want {
				t.Fatalf("DisruptionTarget %+v, want it: %v", c, tc.want)
			}
			if c != nil && (c.Status != corev1.ConditionTrue || c.Reason != ReasonTerminationByMesos || c.Message != tc.message) {
				t.Fatalf("DisruptionTarget %s %s %q, want True %s %q", c.Status, c.Reason, c.Message, ReasonTerminationByMesos, tc.message)
			}
		})
	}
}

// A pod whose agent stayed unreachable too long fails with NodeLost, a disruption.
func TestAPodLostWithItsAgentIsADisruption(t *testing.T) {
	s := corev1.PodStatus{Phase: corev1.PodRunning}
	UnreachableTooLong(&s)
	c := podCondition(&s, corev1.DisruptionTarget)
	if c == nil || c.Status != corev1.ConditionTrue || c.Reason != ReasonTerminationByMesos {
		t.Fatalf("DisruptionTarget %+v, want True %s", c, ReasonTerminationByMesos)
	}
}
