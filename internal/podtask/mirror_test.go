package podtask

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// While a task is on its way up its pod already says Pending: such an update is written
// only with container statuses, or where the pod says its agent is unreachable.
func TestMirrorToPod(t *testing.T) {
	waiting := `{"phase":"Pending","containerStatuses":[{"name":"c","state":{"waiting":{"reason":"ContainerCreating"}}}]}`
	for _, tc := range []struct {
		name  string
		phase mesosv1alpha1.TaskPhase
		data  string
		want  bool
	}{
		{"staging without data", mesosv1alpha1.TaskPhaseStaging, "", false},
		{"starting with a bare phase", mesosv1alpha1.TaskPhaseStarting, `{"phase":"Pending"}`, false},
		{"starting with container statuses", mesosv1alpha1.TaskPhaseStarting, waiting, true},
		{"starting with init container statuses", mesosv1alpha1.TaskPhaseStarting, `{"initContainerStatuses":[{"name":"i"}]}`, true},
		{"starting with malformed data", mesosv1alpha1.TaskPhaseStarting, `{`, false},
		{"running", mesosv1alpha1.TaskPhaseRunning, "", true},
		{"failed", mesosv1alpha1.TaskPhaseFailed, "", true},
		{"unreachable", mesosv1alpha1.TaskPhaseUnreachable, "", true},
		{"pending again", mesosv1alpha1.TaskPhasePending, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var data []byte
			if tc.data != "" {
				data = []byte(tc.data)
			}
			pod := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}
			if got := MirrorToPod(pod, &mesosv1alpha1.MesosTaskStatus{Phase: tc.phase}, data); got != tc.want {
				t.Errorf("MirrorToPod(%s, %q) = %v, want %v", tc.phase, tc.data, got, tc.want)
			}
		})
	}
	// Its agent back while the task was starting: the pod says the agent is unreachable
	// no longer.
	unreachable := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, Reason: ReasonAgentUnreachable}}
	if !MirrorToPod(unreachable, &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStarting}, nil) {
		t.Error("a bare TASK_STARTING is not written on a pod that says its agent is unreachable")
	}
	st := PodStatusFor(unreachable, &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStarting, MesosState: "TASK_STARTING"}, nil)
	if st.Reason == ReasonAgentUnreachable {
		t.Errorf("the status written keeps the reason %s", st.Reason)
	}
}
