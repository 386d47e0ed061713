package controllers

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache/informertest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllertest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/scheduler"
	"github.com/k8sm/k8sm/internal/testapi"
)

// A cluster whose pass is slow holds up no other cluster's Leases: the controller passes
// over several clusters at once. One cluster after another, a pass over 250 agents lasts
// 5 s (nodePace), and with ten such clusters each Lease was renewed every 50 s,
// kube-controller-manager's grace: their Nodes went Unknown. Here the renewal of the
// slow cluster's Lease does not return until the test ends (an API server slow to
// answer); the fast cluster's is renewed meanwhile.
func TestAgentNodeSlowClusterHoldsUpNoOtherClustersLeases(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sch := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(sch)
	_ = mesosv1alpha1.AddToScheme(sch)

	// Both frameworks had subscribed and have no driver yet (a new leader, say): a pass
	// keeps their Nodes Ready and renews their Leases (outage).
	renewed := metav1.NewMicroTime(time.Now().Add(-time.Hour))
	var objs []client.Object
	for _, name := range []string{"slow", "fast"} {
		node := agentnode.NodeName(name, "h1", 5051)
		objs = append(objs,
			&mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name)},
				Status: mesosv1alpha1.MesosClusterStatus{FrameworkID: "fw-" + name}},
			&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node, UID: types.UID("uid-" + node), Labels: map[string]string{agentnode.LabelCluster: name}},
				Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}},
			&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: nodeLeaseNamespace, Name: node},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(node), LeaseDurationSeconds: ptr.To(int32(40)), RenewTime: &renewed}})
	}
	blocked, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	c := testapi.ShareReads(t, fake.NewClientBuilder().WithScheme(sch).WithStatusSubresource(&corev1.Node{}).WithObjects(objs...).
		WithInterceptorFuncs(interceptor.Funcs{Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
			if _, ok := o.(*coordinationv1.Lease); ok && strings.Contains(o.GetName(), "-slow-") {
				once.Do(func() { close(blocked) })
				select {
				case <-release:
				case <-ctx.Done():
				}
			}
			return c.Update(ctx, o, opts...)
		}}).Build())

	reg := scheduler.NewRegistry()
	mgr := agentNodeManager(t, sch, c)
	if err := (&AgentNodeReconciler{Client: c, Registry: reg}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		close(release)
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	reg.Wake("slow")
	select {
	case <-blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow cluster's Lease was not renewed")
	}
	reg.Wake("fast")
	key := client.ObjectKey{Namespace: nodeLeaseNamespace, Name: agentnode.NodeName("fast", "h1", 5051)}
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		lease := &coordinationv1.Lease{}
		if err := c.Get(ctx, key, lease); err != nil {
			t.Fatal(err)
		}
		if lease.Spec.RenewTime.After(renewed.Add(time.Minute)) {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("the fast cluster's Lease was renewed at %v, not since: its pass waits for the slow cluster's", lease.Spec.RenewTime)
		}
	}
}

// agentNodeManager is a manager for the agent Node reconciler whose client is c and whose
// informers are fakes that never tell a thing: its passes come from the Registry's
// wake-ups.
func agentNodeManager(t *testing.T, sch *runtime.Scheme, c client.Client) ctrl.Manager {
	t.Helper()
	// Every kind the reconciler watches has its informer before the manager starts (the
	// fake informers are not safe to make concurrently), and locked: Nodes are watched
	// twice, and the two watches add their handlers at once.
	informers := &informertest.FakeInformers{Scheme: sch, InformersByGVK: map[schema.GroupVersionKind]toolscache.SharedIndexInformer{}}
	for _, o := range []client.Object{&corev1.Node{}, &mesosv1alpha1.MesosCluster{}} {
		gvk, err := apiutil.GVKForObject(o, sch)
		if err != nil {
			t.Fatal(err)
		}
		informers.InformersByGVK[gvk] = &lockedInformer{FakeInformer: controllertest.NewFakeInformer(controllertest.Synced)}
	}
	mgr, err := ctrl.NewManager(&rest.Config{Host: "http://127.0.0.1:1"}, ctrl.Options{
		Scheme:                 sch,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		MapperProvider: func(*rest.Config, *http.Client) (meta.RESTMapper, error) {
			return meta.NewDefaultRESTMapper(nil), nil
		},
		NewCache:  func(*rest.Config, cache.Options) (cache.Cache, error) { return informers, nil },
		NewClient: func(*rest.Config, client.Options) (client.Client, error) { return c, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return mgr
}
