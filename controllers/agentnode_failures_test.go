package controllers

import (
	"context"
	"errors"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/scheduler"
	"github.com/k8sm/k8sm/internal/testapi"
)

// fakeAPI is a fake API server holding objs, whose calls go through funcs (nil ones to
// the fake). It gives each object created a UID, as the API server does (the fake gives
// none). base is the fake itself, for reads that bypass the manager's cache.
func fakeAPI(t *testing.T, funcs interceptor.Funcs, objs ...client.Object) (c client.Client, base client.WithWatch) {
	t.Helper()
	sch := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(sch)
	_ = mesosv1alpha1.AddToScheme(sch)
	base = fake.NewClientBuilder().WithScheme(sch).WithStatusSubresource(&corev1.Node{}, &mesosv1alpha1.MesosCluster{}).
		WithIndex(&corev1.Pod{}, indexer.PodNodeName, indexer.AgentNodeOf).WithObjects(objs...).Build()
	create := funcs.Create
	if create == nil {
		create = func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
			return c.Create(ctx, o, opts...)
		}
	}
	funcs.Create = func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
		if o.GetUID() != "" {
			return create(ctx, c, o, opts...)
		}
		o.SetUID(types.UID("uid-" + o.GetName()))
		err := create(ctx, c, o, opts...)
		if err != nil {
			o.SetUID("") // nothing was made
		}
		return err
	}
	// Objects read without a copy are shared, as the cache shares them, and checked
	// unchanged at the test's end.
	return testapi.ShareReads(t, interceptor.NewClient(base, funcs)), base
}

// failNode makes the writes of Node name fail with err, the others go through.
func failNode(name string, err error) interceptor.Funcs {
	return interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, o client.Object, p client.Patch, opts ...client.PatchOption) error {
			if _, ok := o.(*corev1.Node); ok && (name == "" || o.GetName() == name) {
				return err
			}
			return c.Patch(ctx, o, p, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			if _, ok := o.(*corev1.Node); ok && (name == "" || o.GetName() == name) {
				return err
			}
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		},
	}
}

// agentNodeObject is the Node of agent a of cluster m as a manager left it, Ready, with a
// UID; when stale, without the agent id annotation and Ready=Unknown (the agent had
// left), so that a pass writes both.
func agentNodeObject(a agentnode.Agent, stale bool, now time.Time) *corev1.Node {
	n := agentnode.Desired("m", a)
	n.UID = types.UID("uid-" + n.Name)
	if stale {
		n.Annotations = nil
	}
	n.Status = agentnode.Status(a, !stale, metav1.NewTime(now.Add(-time.Minute)), nil)
	return n
}

// nodeWriteFailures is the k8sm_agent_node_write_failures_total of a cluster.
func nodeWriteFailures(t *testing.T, cluster string) float64 {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "k8sm_agent_node_write_failures_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "cluster" && l.GetValue() == cluster {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// expectLeasesRenewed fails unless every Node of nodes has its Lease, renewed at now and
// owned by the Node's UID.
func expectLeasesRenewed(t *testing.T, c client.Client, nodes []string, now time.Time) {
	t.Helper()
	for _, name := range nodes {
		node := &corev1.Node{}
		lease := &coordinationv1.Lease{}
		if err := c.Get(context.Background(), client.ObjectKey{Name: name}, node); err != nil {
			t.Fatal(err)
		}
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: nodeLeaseNamespace, Name: name}, lease); err != nil {
			t.Errorf("the Lease of Node %s: %v", name, err)
			continue
		}
		if lease.Spec.RenewTime == nil || !lease.Spec.RenewTime.Time.Equal(now.Truncate(time.Microsecond)) {
			t.Errorf("the Lease of Node %s was renewed at %v, want %v", name, lease.Spec.RenewTime, now)
		}
		if len(lease.OwnerReferences) != 1 || lease.OwnerReferences[0].UID != node.UID || node.UID == "" {
			t.Errorf("the Lease of Node %s (UID %q) is owned by %+v", name, node.UID, lease.OwnerReferences)
		}
	}
}

// A Node the API server refuses to write (a policy webhook, a 429) still has its Lease
// renewed, as a kubelet renews its Lease whatever becomes of its status writes, and so
// does every other Node of the cluster; the pass comes again within a quarter of the
// Lease duration and counts the failures.
func TestAFailingNodeWriteLeavesTheLeasesRenewed(t *testing.T) {
	webhook := errors.New("admission webhook denied the request")
	throttled := apierrors.NewTooManyRequests("slow down", 1)
	for _, tc := range []struct {
		name     string
		existing bool // the Nodes exist, stale (agentNodeObject): a pass writes them
		funcs    interceptor.Funcs
		failures float64
	}{
		{name: "status refused, new Node", funcs: failNode("mesos-m-h0", webhook), failures: 1},
		{name: "status refused, Node made before", existing: true, funcs: interceptor.Funcs{
			SubResourcePatch: failNode("mesos-m-h0", webhook).SubResourcePatch}, failures: 1},
		{name: "labels refused", existing: true, funcs: interceptor.Funcs{Patch: failNode("mesos-m-h0", webhook).Patch}, failures: 1},
		{name: "every Node write throttled", existing: true, funcs: failNode("", throttled), failures: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			agents := testAgents(3)
			var objs []client.Object
			names := make([]string, len(agents))
			st := framework.Status{Subscribed: true, Agents: map[string]framework.Agent{}}
			for i, a := range agents {
				names[i] = agentnode.NodeName("m", a.Hostname, a.Port)
				st.Agents[a.ID] = framework.Agent{ID: a.ID, Hostname: a.Hostname, Port: a.Port, IP: a.IP}
				if tc.existing {
					objs = append(objs, agentNodeObject(a, true, now))
				}
			}
			c, _ := fakeAPI(t, tc.funcs, objs...)
			mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"}}
			r := &AgentNodeReconciler{Client: c}
			var nodes corev1.NodeList
			if err := c.List(context.Background(), &nodes); err != nil {
				t.Fatal(err)
			}
			before := nodeWriteFailures(t, "m")
			requeue := r.pass(context.Background(), mc, nodes.Items, st, now)
			if requeue <= 0 || requeue > r.leaseDuration()/4 {
				t.Errorf("the next pass is due in %v, want within %v", requeue, r.leaseDuration()/4)
			}
			expectLeasesRenewed(t, c, names, now)
			if got := nodeWriteFailures(t, "m") - before; got != tc.failures {
				t.Errorf("%v failures counted, want %v", got, tc.failures)
			}
		})
	}
}

// A Node whose write fails makes no error of the pass: controller-runtime would then
// retry the cluster with its growing backoff, not RequeueAfter, and renew no Lease of
// the cluster meanwhile. Here through an outage of the master, when every Node is
// written.
func TestReconcileReturnsNoErrorForAFailingNode(t *testing.T) {
	now := time.Now()
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"},
		Status: mesosv1alpha1.MesosClusterStatus{FrameworkID: "fw-1"}}
	agents := testAgents(2)
	objs := []client.Object{mc}
	names := make([]string, len(agents))
	for i, a := range agents {
		n := agentNodeObject(a, false, now)
		objs, names[i] = append(objs, n), n.Name
	}
	c, _ := fakeAPI(t, failNode(names[0], errors.New("admission webhook denied the request")), objs...)
	r := &AgentNodeReconciler{Client: c, Registry: scheduler.NewRegistry(), Now: func() time.Time { return now }}
	r.unsubscribed.Store("m", now.Add(-time.Minute)) // past outageGrace: the Nodes are written
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Name: "m"}})
	if err != nil {
		t.Fatalf("Reconcile() = %v, want no error: the failed Node is logged and counted", err)
	}
	if res.RequeueAfter <= 0 || res.RequeueAfter > r.leaseDuration()/4 {
		t.Errorf("RequeueAfter = %v, want within %v", res.RequeueAfter, r.leaseDuration()/4)
	}
	expectLeasesRenewed(t, c, names, now)
}

// A Node that the create finds made meanwhile (the manager's cache lags behind it) is
// read from the API server: its Lease is owned by its UID, never by an empty one, which
// the garbage collector would take for an owner that is gone; and renewed even when the
// Node's status cannot be written.
func TestALeaseOfANodeMadeMeanwhileNamesItsUID(t *testing.T) {
	for _, tc := range []struct {
		name          string
		statusRefused bool
	}{
		{name: "status written"},
		{name: "status refused", statusRefused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			a := testAgents(1)[0]
			node := agentNodeObject(a, true, now)
			node.UID = "made-meanwhile"
			funcs := interceptor.Funcs{
				Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, o client.Object, opts ...client.GetOption) error {
					if _, ok := o.(*corev1.Node); ok {
						return apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, key.Name) // not in the cache yet
					}
					return c.Get(ctx, key, o, opts...)
				}}
			if tc.statusRefused {
				funcs.SubResourcePatch = failNode(node.Name, errors.New("admission webhook denied the request")).SubResourcePatch
			}
			c, base := fakeAPI(t, funcs, node)
			r := &AgentNodeReconciler{Client: c, APIReader: base}
			mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"}}
			err := r.ensureNode(context.Background(), mc, a, true, now, r.leaseDuration()/4)
			if (err != nil) != tc.statusRefused {
				t.Errorf("ensureNode() = %v, want an error only when the status is refused", err)
			}
			expectLeasesRenewed(t, base, []string{node.Name}, now)
		})
	}
}

// The Node of an agent that left, deleted by someone else while the cache still holds
// it, is gone already: marking it gone is no failure.
func TestMarkGoneOfADeletedNode(t *testing.T) {
	now := time.Now()
	node := agentNodeObject(testAgents(1)[0], false, now)
	c, _ := fakeAPI(t, interceptor.Funcs{})
	r := &AgentNodeReconciler{Client: c}
	if err := r.markGone(context.Background(), node, now); err != nil {
		t.Errorf("markGone of a deleted Node = %v, want nil", err)
	}
}

// A Node whose k8sm taint is missing is written with its resourceVersion: from a cache
// that has not seen a taint the node lifecycle controller added, a plain merge patch of
// the taint list would remove that taint. The conflict is no failure (the next pass
// writes the taint from the Node as it is), and the pass still writes the Node's status,
// its heartbeat, which a stale cache does not hold up.
func TestWriteNodeKeepsTaintsTheCacheHasNotSeen(t *testing.T) {
	now := time.Now()
	a := agentnode.Agent{ID: "a1", Hostname: "h1", Port: 5051, IP: "10.0.0.1", KubeletAPI: agentnode.KubeletAPI{Port: 10350, Served: true}}
	node := agentNodeObject(a, false, now)
	node.Spec.Taints = nil // the agent's taint went, say by hand
	c, base := fakeAPI(t, interceptor.Funcs{}, node)
	ctx := context.Background()
	cached := &corev1.Node{}
	if err := base.Get(ctx, client.ObjectKeyFromObject(node), cached); err != nil {
		t.Fatal(err)
	}
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}
	latest := cached.DeepCopy()
	latest.Spec.Taints = []corev1.Taint{unreachable}
	if err := base.Update(ctx, latest); err != nil {
		t.Fatal(err)
	}

	r := &AgentNodeReconciler{Client: c}
	later := now.Add(nodeStatusRefresh) // the heartbeat is due
	if _, err := r.writeNode(ctx, cached, agentnode.Desired("m", a), a, true, later); err != nil {
		t.Errorf("writeNode from a stale Node: %v, want no error", err)
	}
	got := &corev1.Node{}
	if err := base.Get(ctx, client.ObjectKeyFromObject(node), got); err != nil {
		t.Fatal(err)
	}
	if !hasTaint(got.Spec.Taints, unreachable) {
		t.Errorf("taints after the write: %v, want %s kept", got.Spec.Taints, unreachable.Key)
	}
	if ready := agentnode.ReadyCondition(got); ready == nil || ready.LastHeartbeatTime.Unix() != later.Unix() {
		t.Errorf("Ready after the write: %+v, want its heartbeat written", ready)
	}

	// From the Node as it is, the next pass adds the agent's taint beside it.
	if _, err := r.writeNode(ctx, got, agentnode.Desired("m", a), a, true, now); err != nil {
		t.Fatal(err)
	}
	if err := base.Get(ctx, client.ObjectKeyFromObject(node), got); err != nil {
		t.Fatal(err)
	}
	if len(got.Spec.Taints) != 2 || !hasTaint(got.Spec.Taints, unreachable) {
		t.Errorf("taints after the next pass: %v, want the agent's and %s", got.Spec.Taints, unreachable.Key)
	}
}
