package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/mesossim"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// deletedCluster is MesosCluster "c" of framework fw-1, being deleted with the default
// Teardown, whose last pass before the deletion (by a manager since restarted) wrote it
// Subscribed: its spec generation 2 is the one the deletion made.
func deletedCluster(spec mesosv1alpha1.MesosClusterSpec) *mesosv1alpha1.MesosCluster {
	now := metav1.Now()
	subscribed := []metav1.Condition{
		{Type: mesosv1alpha1.ConditionSubscribed, Status: metav1.ConditionTrue, Reason: ReasonSubscribed, Message: "Subscribed to " + spec.Master + " as framework fw-1", ObservedGeneration: 1, LastTransitionTime: now},
		{Type: mesosv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonSubscribed, Message: "Subscribed to " + spec.Master + " as framework fw-1", ObservedGeneration: 1, LastTransitionTime: now},
		{Type: mesosv1alpha1.ConditionDegraded, Status: metav1.ConditionFalse, Reason: ReasonAsExpected, Message: "The framework is subscribed", ObservedGeneration: 1, LastTransitionTime: now},
	}
	return &mesosv1alpha1.MesosCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "c", Finalizers: []string{FrameworkFinalizer}, Generation: 2, DeletionTimestamp: &now},
		Spec:       spec,
		Status:     mesosv1alpha1.MesosClusterStatus{FrameworkID: "fw-1", ObservedGeneration: 1, Conditions: subscribed},
	}
}

// A teardown that the cluster's own config blocks (here its credentials Secret holds
// another principal's) says so, and what to do, rather than that it waits for the
// master, which is fine; Subscribed and Ready no longer say what a pass before the
// deletion saw. Nothing changes until a person fixes the config, so the pass is not
// retried every 2 s.
func TestTeardownBlockedByTheClustersConfig(t *testing.T) {
	mc := deletedCluster(mesosv1alpha1.MesosClusterSpec{Master: "https://m:5050", SchedulerName: "mesos",
		Framework: mesosv1alpha1.FrameworkSpec{Principal: "k8sm", CredentialsSecretRef: &mesosv1alpha1.SecretKeyRef{Namespace: "k8sm-system", Name: "creds"}}})
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "k8sm-system", Name: "creds"},
		Data: map[string][]byte{"principal": []byte("ops"), "secret": []byte("x")}}
	c := clusterAPI(t, mc, secret)
	r := &MesosClusterReconciler{Client: c, APIReader: c, Registry: scheduler.NewRegistry(), SecretNamespace: "k8sm-system", Recorder: events.NewFakeRecorder(10)}
	defer r.Registry.StopAll()
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Name: "c"}})
	if err != nil {
		t.Fatal(err)
	}
	got := &mesosv1alpha1.MesosCluster{}
	if err := c.Get(context.Background(), types.NamespacedName{Name: "c"}, got); err != nil {
		t.Fatal(err)
	}
	deg := meta.FindStatusCondition(got.Status.Conditions, mesosv1alpha1.ConditionDegraded)
	if deg == nil || deg.Status != metav1.ConditionTrue || deg.Reason != ReasonTeardownPending ||
		!strings.Contains(deg.Message, "fw-1") || !strings.Contains(deg.Message, "framework.credentialsSecretRef") ||
		!strings.Contains(deg.Message, "deletionPolicy: Orphan") || strings.Contains(deg.Message, "Waiting to reach the master") {
		t.Errorf("Degraded = %+v, want True/%s naming fw-1, the Secret that blocks its teardown, and deletionPolicy: Orphan", deg, ReasonTeardownPending)
	}
	for _, typ := range []string{mesosv1alpha1.ConditionSubscribed, mesosv1alpha1.ConditionReady} {
		if c := meta.FindStatusCondition(got.Status.Conditions, typ); c == nil || c.Status != metav1.ConditionFalse || c.Reason != ReasonCredentialsInvalid {
			t.Errorf("%s = %+v, want False/%s", typ, c, ReasonCredentialsInvalid)
		}
	}
	if got.Status.ObservedGeneration != 2 {
		t.Errorf("observedGeneration %d, want 2, the generation the deletion made", got.Status.ObservedGeneration)
	}
	if res.RequeueAfter < statusResync {
		t.Errorf("retried after %s, want at least %s: nothing changes until the config does", res.RequeueAfter, statusResync)
	}
}

// A teardown that waits for the master says what the driver says of it, and Subscribed
// and Ready say it too, rather than what a pass before the deletion saw.
func TestTeardownWaitingForTheMaster(t *testing.T) {
	mc := deletedCluster(mesosv1alpha1.MesosClusterSpec{Master: "http://127.0.0.1:1", SchedulerName: "mesos"})
	c := clusterAPI(t, mc)
	r := &MesosClusterReconciler{Client: c, APIReader: c, Registry: scheduler.NewRegistry(), Recorder: events.NewFakeRecorder(10),
		NewScheduler:  func(*mesosv1alpha1.MesosCluster) framework.Scheduler { return nil },
		DriverOptions: func(cfg *framework.Config) { cfg.AgentPollInterval = -1 }}
	defer r.Registry.StopAll()
	got := reconcileCluster(t, r, "c")
	deg := meta.FindStatusCondition(got.Status.Conditions, mesosv1alpha1.ConditionDegraded)
	if deg == nil || deg.Status != metav1.ConditionTrue || deg.Reason != ReasonTeardownPending ||
		!strings.Contains(deg.Message, "Waiting to reach the master to tear framework fw-1 down") || !strings.Contains(deg.Message, "deletionPolicy: Orphan") {
		t.Errorf("Degraded = %+v, want True/%s waiting for the master", deg, ReasonTeardownPending)
	}
	for _, typ := range []string{mesosv1alpha1.ConditionSubscribed, mesosv1alpha1.ConditionReady} {
		if c := meta.FindStatusCondition(got.Status.Conditions, typ); c == nil || c.Status != metav1.ConditionFalse {
			t.Errorf("%s = %+v, want False: no driver is subscribed", typ, c)
		}
	}
	if got.Status.ObservedGeneration != 2 {
		t.Errorf("observedGeneration %d, want 2, the generation the deletion made", got.Status.ObservedGeneration)
	}
}

// A pending teardown takes the fix its status asks for: a deleted cluster whose driver
// cannot reach the master gets a driver of the corrected master, not the one it had.
func TestTeardownTakesTheFixedConfig(t *testing.T) {
	mc := deletedCluster(mesosv1alpha1.MesosClusterSpec{Master: "http://127.0.0.1:1", SchedulerName: "mesos"})
	c := clusterAPI(t, mc)
	r := &MesosClusterReconciler{Client: c, APIReader: c, Registry: scheduler.NewRegistry(), Recorder: events.NewFakeRecorder(10),
		NewScheduler:  func(*mesosv1alpha1.MesosCluster) framework.Scheduler { return nil },
		DriverOptions: func(cfg *framework.Config) { cfg.AgentPollInterval = -1 }}
	defer r.Registry.StopAll()
	reconcileCluster(t, r, "c")
	first, hash := r.Registry.DriverAndHash("c")
	if first == nil {
		t.Fatal("no driver to reach the master with")
	}
	fixed := &mesosv1alpha1.MesosCluster{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: "c"}, fixed); err != nil {
		t.Fatal(err)
	}
	fixed.Spec.Master = "http://127.0.0.1:2"
	if err := c.Update(context.Background(), fixed); err != nil {
		t.Fatal(err)
	}
	reconcileCluster(t, r, "c")
	second, hash2 := r.Registry.DriverAndHash("c")
	if second == first || hash2 == hash {
		t.Fatal("the teardown still waits on the driver of the master before the fix")
	}
	if id := second.FrameworkID(); id != "fw-1" {
		t.Errorf("the new driver's framework id %q, want fw-1 to tear down", id)
	}
}

// Once its framework is torn down, a deleted cluster's driver stops, before the cluster
// lets go of its MesosTasks and its finalizer (which may take a while, thousands of
// MesosTasks): left running, it subscribed again, refused as removed until a master
// failed over, which forgets the frameworks removed before it, and then took the
// framework back, with no cluster left to tear it down (a chaos run saw it).
func TestATornDownFrameworkIsNotSubscribedAgain(t *testing.T) {
	sim, err := mesossim.New(mesossim.Config{Agents: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c", Finalizers: []string{FrameworkFinalizer}},
		Spec: mesosv1alpha1.MesosClusterSpec{Master: sim.URL(), SchedulerName: "mesos", Executor: mesosv1alpha1.ExecutorSpec{URI: "/k8sm-executor"}}}
	var r *MesosClusterReconciler
	driverAtRelease := false
	c := interceptor.NewClient(clusterAPI(t, mc), interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if cl, ok := obj.(*mesosv1alpha1.MesosCluster); ok && !cl.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(cl, FrameworkFinalizer) {
				// The cluster lets go: a master fails over meanwhile.
				driverAtRelease = r.Registry.Driver("c") != nil
				sim.FailoverMaster()
			}
			return c.Update(ctx, obj, opts...)
		}})
	r = &MesosClusterReconciler{Client: c, APIReader: c, Registry: scheduler.NewRegistry(), Recorder: events.NewFakeRecorder(100),
		NewScheduler:  func(*mesosv1alpha1.MesosCluster) framework.Scheduler { return nil },
		DriverOptions: func(cfg *framework.Config) { cfg.AgentPollInterval = -1 }}
	defer r.Registry.StopAll()
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		got := reconcileCluster(t, r, "c")
		if d := r.Registry.Driver("c"); got.Status.FrameworkID != "" && d != nil && d.Subscribed() {
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatal("the framework did not subscribe")
		}
	}

	if err := c.Delete(context.Background(), mc); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Name: "c"}}); err != nil {
		t.Fatal(err)
	}
	if driverAtRelease {
		t.Error("the driver still ran when the cluster let go of its torn-down framework")
	}
	if err := c.Get(context.Background(), client.ObjectKey{Name: "c"}, &mesosv1alpha1.MesosCluster{}); !apierrors.IsNotFound(err) {
		t.Errorf("the cluster is still there: %v", err)
	}
	for _, fw := range sim.State().Frameworks {
		if fw.Connected {
			t.Errorf("framework %s subscribed again after its teardown", fw.ID)
		}
	}
}
