package controllers

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/metrics"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// A cluster that lost its schedulerName to another says what can be done: its
// schedulerName is immutable (the CRD refuses a change), so the way out is to delete it
// and create it again with another one. Deleting it tears down the framework it
// registered, if any; one that never subscribed has none.
func TestSchedulerNameConflictSaysToMakeTheClusterAgain(t *testing.T) {
	for _, tc := range []struct {
		name, frameworkID, want string
	}{
		{"never subscribed", "", `MesosCluster "first" already uses schedulerName "shared", and a schedulerName cannot be changed: ` +
			`delete this MesosCluster and create it again with another schedulerName (it has no framework yet: nothing is torn down)`},
		{"registered", "fw-1", `MesosCluster "first" already uses schedulerName "shared", and a schedulerName cannot be changed: ` +
			`delete this MesosCluster and create it again with another schedulerName (deleting it tears its framework fw-1 down, unless its deletionPolicy is Orphan)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(func() { metrics.Forget("first"); metrics.Forget("second") })
			first := &mesosv1alpha1.MesosCluster{
				ObjectMeta: metav1.ObjectMeta{Name: "first", Finalizers: []string{FrameworkFinalizer}, Generation: 1, CreationTimestamp: metav1.Unix(1, 0)},
				Spec:       mesosv1alpha1.MesosClusterSpec{Master: "http://m:5050", SchedulerName: "shared"},
				Status: mesosv1alpha1.MesosClusterStatus{Conditions: []metav1.Condition{{Type: mesosv1alpha1.ConditionReady,
					Status: metav1.ConditionTrue, Reason: ReasonSubscribed, Message: "Subscribed", LastTransitionTime: metav1.Unix(1, 0)}}},
			}
			second := &mesosv1alpha1.MesosCluster{
				ObjectMeta: metav1.ObjectMeta{Name: "second", Finalizers: []string{FrameworkFinalizer}, Generation: 1, CreationTimestamp: metav1.Unix(2, 0)},
				Spec:       mesosv1alpha1.MesosClusterSpec{Master: "http://m:5050", SchedulerName: "shared"},
				Status:     mesosv1alpha1.MesosClusterStatus{FrameworkID: tc.frameworkID},
			}
			c := clusterAPI(t, first, second)
			r := &MesosClusterReconciler{Client: c, APIReader: c, Registry: scheduler.NewRegistry(), Recorder: events.NewFakeRecorder(100)}
			got := reconcileCluster(t, r, "second")
			ready := meta.FindStatusCondition(got.Status.Conditions, mesosv1alpha1.ConditionReady)
			if ready == nil || ready.Reason != ReasonSchedulerNameConflict || ready.Message != tc.want {
				t.Errorf("Ready = %+v,\nwant %s: %s", ready, ReasonSchedulerNameConflict, tc.want)
			}
			if ready != nil && strings.Contains(ready.Message, "pick another") {
				t.Errorf("Ready says to change an immutable field: %s", ready.Message)
			}
		})
	}
}
