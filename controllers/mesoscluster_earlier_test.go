package controllers

import (
	"context"
	"errors"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/metrics"
	"github.com/k8sm/k8sm/internal/scheduler"
	"github.com/k8sm/k8sm/internal/taskstore"
)

// A framework's labels name its cluster, and the Kubernetes cluster by its kube-system
// namespace's UID; only then does a cluster take back an earlier framework of them. A
// kube-system that is not there or may not be read is no error (nothing is taken back);
// another failure to read it is, and it is read again.
func TestFrameworkLabels(t *testing.T) {
	kubeSystem := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: metav1.NamespaceSystem, UID: "ks-uid"}}
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "kube-system", errors.New("no"))
	for _, tc := range []struct {
		name      string
		objs      []client.Object
		getErr    error
		wantErr   bool
		wantAdopt bool
	}{
		{name: "known", objs: []client.Object{kubeSystem}, wantAdopt: true},
		{name: "no kube-system"},
		{name: "forbidden", objs: []client.Object{kubeSystem}, getErr: forbidden},
		{name: "the API server fails", objs: []client.Object{kubeSystem}, getErr: apierrors.NewServiceUnavailable("busy"), wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(tc.objs...).
				WithInterceptorFuncs(interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
					if tc.getErr != nil {
						return tc.getErr
					}
					return c.Get(ctx, key, obj, opts...)
				}}).Build()
			r := &MesosClusterReconciler{Client: c}
			err := r.kubernetes.load(t.Context(), r)
			if (err != nil) != tc.wantErr {
				t.Fatalf("load: %v, want an error: %v", err, tc.wantErr)
			}
			if err != nil {
				tc.getErr = nil // read again, and now it answers
				if err := r.kubernetes.load(t.Context(), r); err != nil || r.kubernetes.get() != "ks-uid" {
					t.Fatalf("read again: %v, uid %q", err, r.kubernetes.get())
				}
				tc.wantAdopt = true
			}
			var cfg framework.Config
			r.frameworkLabels(&mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c1"}}, &cfg)
			want := []mesos.Label{{Key: LabelFrameworkCluster, Value: new("c1")}}
			if tc.wantAdopt {
				want = append(want, mesos.Label{Key: LabelFrameworkKubernetes, Value: new("ks-uid")})
			}
			if got := cfg.FrameworkInfo.GetLabels().GetLabels(); !labelsEqual(got, want) {
				t.Errorf("labels = %v, want %v", got, want)
			}
			if (len(cfg.Adopt) > 0) != tc.wantAdopt || tc.wantAdopt && !labelsEqual(cfg.Adopt, want) {
				t.Errorf("Adopt = %v, want it %v", cfg.Adopt, tc.wantAdopt)
			}
		})
	}
}

func labelsEqual(a, b []mesos.Label) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].GetValue() != b[i].GetValue() {
			return false
		}
	}
	return true
}

// A new leader that is still loading the MesosTasks (from its copy of the leader before,
// or the CRD it takes over) subscribes no framework yet: its scheduler would take every
// bound pod for unrecorded. Once they are loaded, it does.
func TestAClusterWaitsForTheMesosTasksToBeLoaded(t *testing.T) {
	mc := &mesosv1alpha1.MesosCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "loading", Finalizers: []string{FrameworkFinalizer}, Generation: 1},
		Spec:       mesosv1alpha1.MesosClusterSpec{Master: "http://127.0.0.1:1", SchedulerName: "loading"},
		Status:     mesosv1alpha1.MesosClusterStatus{FrameworkID: "fw-1"},
	}
	c := clusterAPI(t, mc)
	store := taskstore.New(nil)
	reg := scheduler.NewRegistry()
	t.Cleanup(func() { reg.StopDriver(mc.Name); metrics.Forget(mc.Name) })
	r := &MesosClusterReconciler{Client: c, APIReader: c, Registry: reg, Store: store, Recorder: events.NewFakeRecorder(100)}
	res, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(mc)})
	if err != nil || res.RequeueAfter == 0 {
		t.Fatalf("Reconcile = %+v, %v; want it to come again", res, err)
	}
	if reg.Driver(mc.Name) != nil {
		t.Fatal("a driver subscribes while the MesosTasks are not loaded")
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = (&taskstore.Leading{Store: store}).Start(ctx) }()
	if err := store.WaitForSync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(mc)}); err != nil {
		t.Fatal(err)
	}
	if reg.Driver(mc.Name) == nil {
		t.Error("no driver once the MesosTasks are loaded")
	}
}
