package controllers

import (
	"context"
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/scheduler"
	"github.com/k8sm/k8sm/internal/testapi"
)

// A cluster whose framework cannot run (here: its credentials Secret is missing) shows
// no agents, since its driver is stopped and knows none, and still counts its tasks,
// whose MesosTasks and pods are there. Before, both kept what the last pass with a
// driver had written.
func TestBrokenClusterStatusCountsTasksAndNoAgents(t *testing.T) {
	cpus := resource.MustParse("8")
	mc := &mesosv1alpha1.MesosCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "c", Finalizers: []string{FrameworkFinalizer}, Generation: 1},
		Spec: mesosv1alpha1.MesosClusterSpec{Master: "http://m:5050", SchedulerName: "mesos",
			Framework: mesosv1alpha1.FrameworkSpec{CredentialsSecretRef: &mesosv1alpha1.SecretKeyRef{Namespace: "k8sm-system", Name: "missing"}}},
		Status: mesosv1alpha1.MesosClusterStatus{Agents: 4, Capacity: &mesosv1alpha1.ResourceSummary{CPUs: &cpus}},
	}
	mt := &mesosv1alpha1.MesosTask{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"},
		Spec:       mesosv1alpha1.MesosTaskSpec{ClusterRef: "c", PodUID: "u", TaskID: "k8sm.u"},
		Status:     mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning},
	}
	c := clusterAPI(t, mc, mt)
	r := &MesosClusterReconciler{Client: c, APIReader: c, Registry: scheduler.NewRegistry(), SecretNamespace: "k8sm-system", Recorder: events.NewFakeRecorder(10)}
	got := reconcileCluster(t, r, "c")
	if ready := meta.FindStatusCondition(got.Status.Conditions, mesosv1alpha1.ConditionReady); ready == nil || ready.Status != metav1.ConditionFalse {
		t.Fatalf("Ready: %v, want False for the missing Secret", ready)
	}
	if got.Status.Agents != 0 || got.Status.Capacity != nil {
		t.Errorf("agents %d, capacity %v; want none while the framework cannot run", got.Status.Agents, got.Status.Capacity)
	}
	if got.Status.Tasks == nil || got.Status.Tasks.Running != 1 {
		t.Errorf("tasks %+v, want the running one counted", got.Status.Tasks)
	}
}

// clusterAPI is a fake API server holding objs, with the indexes the MesosCluster
// reconciler reads.
func clusterAPI(t *testing.T, objs ...client.Object) client.WithWatch {
	t.Helper()
	sch := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(sch)
	_ = mesosv1alpha1.AddToScheme(sch)
	// Objects read without a copy are shared, as the cache shares them, and checked
	// unchanged at the test's end.
	return testapi.ShareReads(t, fake.NewClientBuilder().WithScheme(sch).WithStatusSubresource(&mesosv1alpha1.MesosCluster{}, &mesosv1alpha1.MesosTask{}).
		WithIndex(&mesosv1alpha1.MesosTask{}, indexer.ClusterRef, indexer.ClusterRefOf).
		WithIndex(&mesosv1alpha1.MesosCluster{}, indexer.ClusterSchedulerName, func(o client.Object) []string {
			return []string{o.(*mesosv1alpha1.MesosCluster).Spec.SchedulerName}
		}).
		WithObjects(objs...).Build())
}

// reconcileCluster runs one pass over cluster name and reads the cluster back.
func reconcileCluster(t *testing.T, r *MesosClusterReconciler, name string) *mesosv1alpha1.MesosCluster {
	t.Helper()
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Name: name}}); err != nil {
		t.Fatal(err)
	}
	got := &mesosv1alpha1.MesosCluster{}
	if err := r.Get(context.Background(), client.ObjectKey{Name: name}, got); err != nil {
		t.Fatal(err)
	}
	return got
}

// A status write that meets a conflict (the cache behind the cluster) asks for the pass
// again shortly, and is no error: the manager would log it as one, stack and all.
func TestAConflictingClusterStatusWriteIsTriedAgain(t *testing.T) {
	mc := &mesosv1alpha1.MesosCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "c", Finalizers: []string{FrameworkFinalizer}, Generation: 1},
		Spec: mesosv1alpha1.MesosClusterSpec{Master: "http://m:5050", SchedulerName: "mesos",
			Framework: mesosv1alpha1.FrameworkSpec{CredentialsSecretRef: &mesosv1alpha1.SecretKeyRef{Namespace: "k8sm-system", Name: "missing"}}},
	}
	c := interceptor.NewClient(clusterAPI(t, mc), interceptor.Funcs{
		SubResourcePatch: func(context.Context, client.Client, string, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
			return apierrors.NewConflict(schema.GroupResource{Group: "mesos.k8sm.io", Resource: "mesosclusters"}, "c", errors.New("the object has been modified"))
		},
	})
	r := &MesosClusterReconciler{Client: c, APIReader: c, Registry: scheduler.NewRegistry(), SecretNamespace: "k8sm-system", Recorder: events.NewFakeRecorder(10)}
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Name: "c"}})
	if err != nil || res.RequeueAfter != conflictRetry {
		t.Errorf("a pass whose status write conflicted: %+v, %v; want it tried again after %s, no error", res, err, conflictRetry)
	}
}

// A cluster whose framework Mesos removed (its status says so, written by an earlier
// process) is let go when deleted, with no teardown, though this process has no driver
// that heard Mesos say it and the master cannot be reached: it does not wait, as
// TeardownPending, to tear down a framework that is gone.
func TestAClusterWhoseFrameworkWasRemovedGoesWithoutReachingTheMaster(t *testing.T) {
	now := metav1.Now()
	mc := &mesosv1alpha1.MesosCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "c", Finalizers: []string{FrameworkFinalizer}, Generation: 1, DeletionTimestamp: &now},
		Spec:       mesosv1alpha1.MesosClusterSpec{Master: "http://127.0.0.1:1", SchedulerName: "mesos"},
		Status: mesosv1alpha1.MesosClusterStatus{FrameworkID: "fw-1", Conditions: []metav1.Condition{{
			Type: mesosv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: ReasonFrameworkRemoved,
			Message: "Framework has been removed", LastTransitionTime: now}}},
	}
	c := clusterAPI(t, mc)
	r := &MesosClusterReconciler{Client: c, APIReader: c, Registry: scheduler.NewRegistry(), SecretNamespace: "k8sm-system", Recorder: events.NewFakeRecorder(10)}
	t.Cleanup(func() { r.Registry.StopDriver("c") })
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Name: "c"}}); err != nil {
		t.Fatal(err)
	}
	got := &mesosv1alpha1.MesosCluster{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: "c"}, got); !apierrors.IsNotFound(err) {
		t.Fatalf("the cluster is still there (%v): %+v", err, got.Status.Conditions)
	}
}
