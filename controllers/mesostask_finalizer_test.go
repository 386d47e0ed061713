package controllers

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// A MesosTask holds its finalizer while its cluster can kill its task. Once the cluster
// is gone (its framework torn down or orphaned) nothing can, and the finalizer would keep
// the MesosTask, and with it the mesostasks CRD of an uninstall, Terminating for ever:
// it goes, and is not added back. While the cluster is being deleted the MesosTask is
// left as it is: the cluster lets its tasks go once its framework is torn down or left.
func TestAMesosTaskHoldsItsFinalizerWhileItsClusterCanKillItsTask(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cluster string // "", "live" or "deleting"
		has     bool   // the MesosTask has the finalizer before
		want    bool
	}{
		{"a live cluster's, without it", "live", false, true},
		{"a live cluster's, with it", "live", true, true},
		{"a deleting cluster's, let go", "deleting", false, false},
		{"a deleting cluster's, not yet let go", "deleting", true, true},
		{"a gone cluster's", "", true, false},
		{"a gone cluster's, let go", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mt := earlierTask(mesosv1alpha1.TaskPhaseRunning)
			if !tc.has {
				mt.Finalizers = nil
			}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0", UID: "old"},
				Spec: corev1.PodSpec{SchedulerName: "mesos", NodeName: "mesos-c-agent-1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
			objs := []client.Object{mt, pod}
			switch tc.cluster {
			case "live":
				objs = append(objs, readyCluster())
			case "deleting":
				mc := readyCluster()
				now := metav1.Now()
				mc.DeletionTimestamp, mc.Finalizers = &now, []string{FrameworkFinalizer}
				objs = append(objs, mc)
			}
			c := podAPI(t, interceptor.Funcs{}, objs...)
			r := &MesosTaskReconciler{Client: c, Registry: scheduler.NewRegistry(), Recorder: events.NewFakeRecorder(10)}
			if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(mt)}); err != nil {
				t.Fatal(err)
			}
			got := &mesosv1alpha1.MesosTask{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(mt), got); err != nil {
				t.Fatal(err)
			}
			if has := controllerutil.ContainsFinalizer(got, TaskFinalizer); has != tc.want {
				t.Errorf("finalizer %v, want %v", has, tc.want)
			}
		})
	}
}

// A MesosCluster lets go of its MesosTasks' finalizers before it goes, once its framework
// is torn down or left: when `kubectl wait --for=delete mesosclusters` returns, no
// MesosTask is left to keep the mesostasks CRD of an uninstall Terminating. Another
// cluster's MesosTasks keep theirs.
func TestADeletedClusterLetsGoOfItsTasks(t *testing.T) {
	now := metav1.Now()
	mc := &mesosv1alpha1.MesosCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "c", Finalizers: []string{FrameworkFinalizer}, DeletionTimestamp: &now},
		Spec:       mesosv1alpha1.MesosClusterSpec{Master: "http://127.0.0.1:1", SchedulerName: "mesos", DeletionPolicy: mesosv1alpha1.DeletionOrphan},
		Status:     mesosv1alpha1.MesosClusterStatus{FrameworkID: "fw-1"},
	}
	task := func(name, cluster string) *mesosv1alpha1.MesosTask {
		return &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Finalizers: []string{TaskFinalizer}},
			Spec: mesosv1alpha1.MesosTaskSpec{ClusterRef: cluster, PodUID: name, TaskID: "k8sm." + name}}
	}
	ours, theirs := task("a", "c"), task("b", "other")
	base := clusterAPI(t, mc, ours, theirs)
	// The first write of a MesosTask loses to another (the scheduler writing the last
	// task states): it is tried again on the stored version.
	conflicts := 1
	c := interceptor.NewClient(base, interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
			if _, ok := o.(*mesosv1alpha1.MesosTask); ok && conflicts > 0 {
				conflicts--
				return apierrors.NewConflict(schema.GroupResource{Group: "mesos.k8sm.io", Resource: "mesostasks"}, o.GetName(), nil)
			}
			return c.Update(ctx, o, opts...)
		},
	})
	r := &MesosClusterReconciler{Client: c, APIReader: base, Registry: scheduler.NewRegistry(), Recorder: events.NewFakeRecorder(10)}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(mc)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mt   *mesosv1alpha1.MesosTask
		want bool
	}{{ours, false}, {theirs, true}} {
		got := &mesosv1alpha1.MesosTask{}
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(tc.mt), got); err != nil {
			t.Fatal(err)
		}
		if has := controllerutil.ContainsFinalizer(got, TaskFinalizer); has != tc.want {
			t.Errorf("MesosTask %s of cluster %s: finalizer %v, want %v", got.Name, got.Spec.ClusterRef, has, tc.want)
		}
	}
}
