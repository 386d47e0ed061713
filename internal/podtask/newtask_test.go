package podtask

import (
	"slices"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
)

// The MesosTask of a task whose pod is gone is named as that pod, owned by nothing,
// finalized, and says what Mesos last said of the task: one that may run is killed by
// its finalizer, an unreachable one is let go (ReleasedUnreachable).
func TestEarlierTask(t *testing.T) {
	now := metav1.Now()
	unreachableAt := time.Now().Add(-time.Minute)
	ref := PodRef{Namespace: "ns", Name: "web-0", UID: "u1"}
	for _, tc := range []struct {
		name            string
		latest          mesos.TaskStatus
		wantPhase       mesosv1alpha1.TaskPhase
		wantMayRun      bool
		wantUnreachable bool
	}{
		{name: "running", latest: mesos.TaskStatus{State: mesos.TASK_RUNNING.Enum()},
			wantPhase: mesosv1alpha1.TaskPhaseRunning, wantMayRun: true},
		{name: "being killed", latest: mesos.TaskStatus{State: mesos.TASK_KILLING.Enum()},
			wantPhase: mesosv1alpha1.TaskPhaseKilling, wantMayRun: true},
		{name: "unreachable", latest: mesos.TaskStatus{State: mesos.TASK_UNREACHABLE.Enum(),
			UnreachableTime: &mesos.TimeInfo{Nanoseconds: unreachableAt.UnixNano()}},
			wantPhase: mesosv1alpha1.TaskPhaseUnreachable, wantMayRun: true, wantUnreachable: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.latest.TaskID = mesos.TaskID{Value: "k8sm.u1"}
			tc.latest.AgentID = &mesos.AgentID{Value: "a-1"}
			mt := EarlierTask(ref, "c", "k8sm.u1", "k8sm-executor", tc.latest, now)
			if mt.Namespace != "ns" || mt.Name != "web-0" || mt.Labels[agentnode.LabelCluster] != "c" ||
				!slices.Equal(mt.Finalizers, []string{TaskFinalizer}) || len(mt.OwnerReferences) != 0 {
				t.Errorf("metadata %+v, want web-0 of cluster c, finalized, owned by nothing", mt.ObjectMeta)
			}
			if sp := mt.Spec; sp.ClusterRef != "c" || sp.PodUID != "u1" || sp.TaskID != "k8sm.u1" || sp.ExecutorID != "k8sm-executor" || sp.NodeName != "" {
				t.Errorf("spec %+v", mt.Spec)
			}
			if mt.Status.Phase != tc.wantPhase || mt.Status.AgentID != "a-1" || MayRun(mt, nil) != tc.wantMayRun {
				t.Errorf("status %+v: want %s on a-1, may run %v", mt.Status, tc.wantPhase, tc.wantMayRun)
			}
			if got := ReleasedUnreachable(mt, nil); got != tc.wantUnreachable {
				t.Errorf("released as unreachable: %v, want %v", got, tc.wantUnreachable)
			}
			if tc.wantUnreachable && (mt.Status.UnreachableSince == nil || !mt.Status.UnreachableSince.Time.Equal(unreachableAt.Truncate(time.Second))) {
				t.Errorf("unreachable since %v, want %v", mt.Status.UnreachableSince, unreachableAt)
			}
		})
	}
}
