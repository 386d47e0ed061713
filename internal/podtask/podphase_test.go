package podtask

import (
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// A MesosTask's podPhase says what its pod shows: a pod that ended apart from its task
// (Failed with NodeLost while its agent was unreachable) is mirrored, and stays so
// whatever the task reports after, as the pod does (TestPodStatusForKeepsAnEndedPod).
func TestPodPhaseFollowsAPodThatEndedApartFromItsTask(t *testing.T) {
	now := metav1.Now()
	st := &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, PodPhase: corev1.PodRunning, MesosState: "TASK_RUNNING", LaunchedAt: &now}
	ApplyUpdate(st, update(mesos.TASK_UNREACHABLE, nil, "0123456789abcdef"), now)
	running := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	if MirrorEndedPod(st, running) || st.PodPhase != corev1.PodRunning {
		t.Fatalf("a running pod's MesosTask says %s", st.PodPhase)
	}
	lost := running.DeepCopy()
	UnreachableTooLong(&lost.Status)
	if !MirrorEndedPod(st, lost) || st.PodPhase != corev1.PodFailed {
		t.Fatalf("a NodeLost pod's MesosTask says %s", st.PodPhase)
	}
	if MirrorEndedPod(st, lost) {
		t.Fatal("mirrored the same phase twice")
	}
	// The agent comes back, and the task is killed for its pod ended.
	for _, state := range []mesos.TaskState{mesos.TASK_RUNNING, mesos.TASK_KILLED} {
		ApplyUpdate(st, update(state, nil, "fedcba9876543210"), now)
		if st.PodPhase != corev1.PodFailed {
			t.Fatalf("after %s the MesosTask's podPhase is %s, want the pod's Failed", state, st.PodPhase)
		}
	}
	// A deleted pod stopped in success is mirrored as Succeeded; a kill keeps that.
	if got := PodPhaseFor(mesosv1alpha1.TaskPhaseKilled, corev1.PodSucceeded); got != corev1.PodSucceeded {
		t.Fatalf("a Succeeded pod's kill gives %s", got)
	}
}
