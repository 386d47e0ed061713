package podtask

import (
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// minuteAt is a time at minute min of an hour of the tests' day.
func minuteAt(min int) metav1.Time {
	return metav1.NewTime(time.Date(2026, 12, 5, 12, min, 0, 0, time.UTC))
}

// timePtr points to a copy of t.
func timePtr(t metav1.Time) *metav1.Time { return &t }

// A record made for a bound pod whose launch nothing remembers takes from the pod when
// its task was launched and first ran, and whether Mesos reported it: so that Mesos's
// answer that it holds no such task ends a pod that ran, instead of launching it again.
func TestARecordMadeAgainTakesWhatThePodSays(t *testing.T) {
	at, ptr := minuteAt, timePtr
	cond := func(t corev1.PodConditionType, s corev1.ConditionStatus, min int) corev1.PodCondition {
		return corev1.PodCondition{Type: t, Status: s, LastTransitionTime: at(min)}
	}
	running := func(min int) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: "c", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(min)}}}
	}
	for _, tc := range []struct {
		name   string
		status corev1.PodStatus
		want   mesosv1alpha1.MesosTaskStatus
	}{
		{"bound, nothing reported", corev1.PodStatus{Phase: corev1.PodPending,
			Conditions: []corev1.PodCondition{cond(corev1.PodScheduled, corev1.ConditionTrue, 1)}},
			mesosv1alpha1.MesosTaskStatus{LaunchedAt: ptr(at(1))}},
		{"bound by another, nothing written", corev1.PodStatus{Phase: corev1.PodPending}, mesosv1alpha1.MesosTaskStatus{}},
		{"starting, the sandbox ready", corev1.PodStatus{Phase: corev1.PodPending, StartTime: ptr(at(2)),
			Conditions: []corev1.PodCondition{cond(corev1.PodScheduled, corev1.ConditionTrue, 1), cond(corev1.PodReadyToStartContainers, corev1.ConditionTrue, 3)}},
			mesosv1alpha1.MesosTaskStatus{LaunchedAt: ptr(at(2)), MesosState: "TASK_STARTING"}},
		{"starting, containers waiting", corev1.PodStatus{Phase: corev1.PodPending,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}},
			mesosv1alpha1.MesosTaskStatus{MesosState: "TASK_STARTING"}},
		{"running, without container statuses", corev1.PodStatus{Phase: corev1.PodRunning, StartTime: ptr(at(2)),
			Conditions: []corev1.PodCondition{cond(corev1.PodScheduled, corev1.ConditionTrue, 1), cond(corev1.PodReadyToStartContainers, corev1.ConditionTrue, 4)}},
			mesosv1alpha1.MesosTaskStatus{LaunchedAt: ptr(at(2)), MesosState: "TASK_RUNNING", StartedAt: ptr(at(4))}},
		{"running, its containers started", corev1.PodStatus{Phase: corev1.PodRunning, StartTime: ptr(at(2)),
			Conditions:            []corev1.PodCondition{cond(corev1.PodReadyToStartContainers, corev1.ConditionTrue, 4)},
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "i", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{StartedAt: at(5)}}}},
			ContainerStatuses:     []corev1.ContainerStatus{running(7), running(6)}},
			mesosv1alpha1.MesosTaskStatus{LaunchedAt: ptr(at(2)), MesosState: "TASK_RUNNING", StartedAt: ptr(at(5))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Status: tc.status}
			var st mesosv1alpha1.MesosTaskStatus
			FromPod(&st, pod)
			if !equality.Semantic.DeepEqual(st, tc.want) {
				t.Fatalf("status %+v, want %+v", st, tc.want)
			}
			kept := mesosv1alpha1.MesosTaskStatus{LaunchedAt: ptr(at(30)), StartedAt: ptr(at(31)), MesosState: "TASK_STAGING"}
			st = *kept.DeepCopy()
			FromPod(&st, pod)
			if !equality.Semantic.DeepEqual(st, kept) {
				t.Errorf("what the status said was changed: %+v", st)
			}
		})
	}
}

// Mesos's word that it holds no such task (a reconciliation's TASK_GONE) is, for a
// record made from a pod that ran, the task's end; for one made from a pod that shows
// nothing reported, a launch Mesos never ran, to launch again.
func TestMesosHoldsNoTaskOfAPodThatRanIsItsEnd(t *testing.T) {
	gone := mesos.TaskStatus{TaskID: mesos.TaskID{Value: "t"}, State: mesos.TASK_GONE.Enum(), Reason: mesos.REASON_RECONCILIATION.Enum()}
	for _, tc := range []struct {
		name  string
		phase corev1.PodPhase
		want  mesosv1alpha1.TaskPhase
	}{
		{"ran", corev1.PodRunning, mesosv1alpha1.TaskPhaseGone},
		{"nothing reported", corev1.PodPending, mesosv1alpha1.TaskPhasePending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st mesosv1alpha1.MesosTaskStatus
			FromPod(&st, &corev1.Pod{Status: corev1.PodStatus{Phase: tc.phase}})
			ApplyUpdate(&st, gone, metav1.Now())
			if st.Phase != tc.want {
				t.Fatalf("phase %s, want %s", st.Phase, tc.want)
			}
		})
	}
}
