package controllers

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// A pass that reads the cluster from a cache that has not seen the previous pass's status
// write yet must not take that stale status for what is stored: when it works out the
// same status as the stale one (a driver that subscribed again right after a write that
// said it was not subscribed), skipping the write would leave the previous pass's status
// in place until the next resync, half a minute later.
func TestStatusWriteNotSkippedOnAStaleCache(t *testing.T) {
	sch := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(sch)
	_ = mesosv1alpha1.AddToScheme(sch)
	subscribed := mesosv1alpha1.MesosClusterStatus{FrameworkID: "fw-1"}
	meta.SetStatusCondition(&subscribed.Conditions, metav1.Condition{Type: mesosv1alpha1.ConditionSubscribed, Status: metav1.ConditionTrue, Reason: ReasonSubscribed, Message: "Subscribed"})
	notSubscribed := mesosv1alpha1.MesosClusterStatus{FrameworkID: "fw-1"}
	meta.SetStatusCondition(&notSubscribed.Conditions, metav1.Condition{Type: mesosv1alpha1.ConditionSubscribed, Status: metav1.ConditionFalse, Reason: ReasonConnecting, Message: "Connecting"})

	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Status: subscribed}
	c := fake.NewClientBuilder().WithScheme(sch).WithStatusSubresource(&mesosv1alpha1.MesosCluster{}).WithObjects(mc).Build()
	r := &MesosClusterReconciler{Client: c, Recorder: events.NewFakeRecorder(10)}
	ctx := context.Background()
	stale := &mesosv1alpha1.MesosCluster{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(mc), stale); err != nil {
		t.Fatal(err)
	}
	first := stale.DeepCopy()
	if err := r.writeStatus(ctx, first, notSubscribed.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	// The next pass reads the cluster as it was before that write, and works out the
	// status it had then.
	err := r.writeStatus(ctx, stale.DeepCopy(), subscribed.DeepCopy())
	stored := &mesosv1alpha1.MesosCluster{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(mc), stored); err != nil {
		t.Fatal(err)
	}
	got := meta.FindStatusCondition(stored.Status.Conditions, mesosv1alpha1.ConditionSubscribed)
	if err == nil && got.Status != metav1.ConditionTrue {
		t.Fatalf("the pass on a stale cache wrote nothing and asked for no retry: stored Subscribed = %s/%s", got.Status, got.Reason)
	}
	// Asked to retry (a conflict), the pass after reads the cluster as stored.
	if err != nil {
		if err := r.writeStatus(ctx, stored.DeepCopy(), subscribed.DeepCopy()); err != nil {
			t.Fatal(err)
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(mc), stored); err != nil {
			t.Fatal(err)
		}
		if got := meta.FindStatusCondition(stored.Status.Conditions, mesosv1alpha1.ConditionSubscribed); got.Status != metav1.ConditionTrue {
			t.Fatalf("after the retry: stored Subscribed = %s/%s", got.Status, got.Reason)
		}
	}
	// A pass on an up-to-date cache with nothing new writes nothing.
	before := stored.ResourceVersion
	if err := r.writeStatus(ctx, stored.DeepCopy(), stored.Status.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(mc), stored); err != nil || stored.ResourceVersion != before {
		t.Fatalf("an unchanged status was written again (%v): resourceVersion %s, was %s", err, stored.ResourceVersion, before)
	}
}
