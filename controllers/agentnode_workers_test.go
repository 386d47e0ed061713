package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/testapi"
)

// nodesClient is a fake API whose Node creates go through create. Each Node gets a UID
// as the API server gives it (the fake gives none).
func nodesClient(t *testing.T, create func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error) client.Client {
	t.Helper()
	sch := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(sch)
	_ = mesosv1alpha1.AddToScheme(sch)
	return testapi.ShareReads(t, fake.NewClientBuilder().WithScheme(sch).WithStatusSubresource(&corev1.Node{}).
		WithIndex(&corev1.Pod{}, indexer.PodNodeName, indexer.AgentNodeOf).
		WithInterceptorFuncs(interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
			if _, ok := o.(*corev1.Node); ok {
				if o.GetUID() == "" {
					o.SetUID(types.UID("uid-" + o.GetName()))
				}
				return create(ctx, c, o, opts...)
			}
			return c.Create(ctx, o, opts...)
		}}).Build())
}

func testAgents(n int) []agentnode.Agent {
	agents := make([]agentnode.Agent, n)
	for i := range agents {
		agents[i] = agentnode.Agent{ID: fmt.Sprintf("a%d", i), Hostname: fmt.Sprintf("h%d", i), Port: 5051, IP: "10.0.0.1", KubeletAPI: agentnode.KubeletAPI{Port: 10350, Served: true}}
	}
	return agents
}

// A pass writes many agents' Nodes at once: one after another, a pass over a thousand
// agents outlasted the Leases while the API server was busy.
func TestEnsureNodesWritesAtOnce(t *testing.T) {
	var inFlight, most atomic.Int32
	release := make(chan struct{})
	c := nodesClient(t, func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		return c.Create(ctx, o, opts...)
	})
	r := &AgentNodeReconciler{Client: c}
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"}}
	agents := testAgents(3 * nodeWorkers)
	done := make(chan struct{})
	go func() {
		r.ensureNodes(context.Background(), mc, agents, agentNodeNames(mc.Name, agents), true, time.Now(), r.leaseDuration()/4)
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for most.Load() < nodeWorkers && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	<-done
	if got := most.Load(); got < 2 || got > nodeWorkers {
		t.Fatalf("at most %d Node writes were made at once, want more than one and no more than %d", got, nodeWorkers)
	}
	var nodes corev1.NodeList
	var leases coordinationv1.LeaseList
	if err := c.List(context.Background(), &nodes); err != nil || len(nodes.Items) != len(agents) {
		t.Fatalf("%d Nodes (%v), want %d", len(nodes.Items), err, len(agents))
	}
	if err := c.List(context.Background(), &leases); err != nil || len(leases.Items) != len(agents) {
		t.Fatalf("%d Leases (%v), want %d", len(leases.Items), err, len(agents))
	}
}

// An agent whose Node cannot be written holds up no other agent's Node or Lease.
func TestEnsureNodesGoesOnPastAFailure(t *testing.T) {
	var mu sync.Mutex
	tried := map[string]bool{}
	c := nodesClient(t, func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
		mu.Lock()
		tried[o.GetName()] = true
		mu.Unlock()
		if strings.HasSuffix(o.GetName(), "-h0") {
			return errors.New("admission webhook denied the request")
		}
		return c.Create(ctx, o, opts...)
	})
	r := &AgentNodeReconciler{Client: c}
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"}}
	agents := testAgents(5)
	r.ensureNodes(context.Background(), mc, agents, agentNodeNames(mc.Name, agents), true, time.Now(), r.leaseDuration()/4)
	var leases coordinationv1.LeaseList
	if err := c.List(context.Background(), &leases); err != nil || len(leases.Items) != len(agents)-1 {
		t.Fatalf("%d Leases (%v), want %d: the other agents' Leases", len(leases.Items), err, len(agents)-1)
	}
	if len(tried) != len(agents) {
		t.Fatalf("Nodes of %d agents were written, want all %d", len(tried), len(agents))
	}
}

// A Node that cannot be written holds up no Node of an agent that left: it is marked
// gone, or deleted after the grace period, in the same pass.
func TestAFailedNodeWriteHoldsUpTheNodesOfAgentsThatLeft(t *testing.T) {
	c := nodesClient(t, func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
		if strings.HasSuffix(o.GetName(), "-h0") {
			return errors.New("admission webhook denied the request")
		}
		return c.Create(ctx, o, opts...)
	})
	now := time.Now()
	left := func(name string, ready corev1.ConditionStatus, since time.Time) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{agentnode.LabelCluster: "m"}},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, LastTransitionTime: metav1.NewTime(since)}}}}
	}
	for _, n := range []*corev1.Node{left("just-left", corev1.ConditionTrue, now), left("long-gone", corev1.ConditionUnknown, now.Add(-time.Hour))} {
		status := n.Status
		if err := c.Create(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		n.Status = status
		if err := c.Status().Update(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	var nodes corev1.NodeList
	if err := c.List(context.Background(), &nodes); err != nil {
		t.Fatal(err)
	}
	r := &AgentNodeReconciler{Client: c, GoneGracePeriod: time.Minute}
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"}}
	r.syncNodes(context.Background(), mc, testAgents(2), nodes.Items, framework.Status{Subscribed: true, Reconciled: true}, keptNodes{}, now)
	n := &corev1.Node{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: "just-left"}, n); err != nil {
		t.Fatal(err)
	}
	if ready := agentnode.ReadyCondition(n); ready == nil || ready.Status != corev1.ConditionUnknown {
		t.Errorf("the Node of the agent that just left is Ready %v, want Unknown", ready)
	}
	if err := c.Get(context.Background(), client.ObjectKey{Name: "long-gone"}, n); err == nil {
		t.Errorf("the Node of the agent gone past the grace period is still there")
	}
}

// The Node of an agent gone past the grace period stays while a task of its pods may come
// back with the agent: deleted, the pod garbage collector would delete those pods, whatever
// their tolerations and the unreachable timeout. It goes once they ended.
func TestTheNodeOfAnAgentThatLeftStaysWhileItsTasksMayComeBack(t *testing.T) {
	ctx, now := context.Background(), time.Now()
	c := nodesClient(t, func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
		return c.Create(ctx, o, opts...)
	})
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "mesos-m-gone", Labels: map[string]string{agentnode.LabelCluster: "m"}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown,
			LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))}}}}
	status := node.Status
	if err := c.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	node.Status = status
	if err := c.Status().Update(ctx, node); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1"},
		Spec: corev1.PodSpec{NodeName: node.Name}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	mt := &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"},
		Spec: mesosv1alpha1.MesosTaskSpec{ClusterRef: "m", PodUID: "u1", TaskID: "k8sm.u1"}, Status: mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseUnreachable}}
	for _, o := range []client.Object{pod, mt} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	r := &AgentNodeReconciler{Client: c, GoneGracePeriod: time.Minute}
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"}}
	pass := func() error {
		var nodes corev1.NodeList
		if err := c.List(ctx, &nodes); err != nil {
			t.Fatal(err)
		}
		r.syncNodes(ctx, mc, nil, nodes.Items, framework.Status{Subscribed: true, Reconciled: true}, keptNodes{}, now)
		return c.Get(ctx, client.ObjectKeyFromObject(node), &corev1.Node{})
	}
	if err := pass(); err != nil {
		t.Fatalf("the Node of an agent whose unreachable task may come back: %v, want it kept", err)
	}
	pod.Status.Phase = corev1.PodFailed // NodeLost, after the unreachable timeout
	if err := c.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if err := pass(); !apierrors.IsNotFound(err) {
		t.Errorf("the Node once its pods ended: %v, want it deleted", err)
	}
}

// A pass over an agent whose Node is as it should be writes nothing to the Node.
func TestEnsureNodeWritesNothingUnchanged(t *testing.T) {
	var writes atomic.Int32
	sch := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(sch)
	_ = mesosv1alpha1.AddToScheme(sch)
	c := fake.NewClientBuilder().WithScheme(sch).WithStatusSubresource(&corev1.Node{}).WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, o client.Object, p client.Patch, opts ...client.PatchOption) error {
			if _, ok := o.(*corev1.Node); ok {
				writes.Add(1)
			}
			return c.Patch(ctx, o, p, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			writes.Add(1)
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		}}).Build()
	r := &AgentNodeReconciler{Client: c}
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"}}
	a := testAgents(1)[0]
	now := time.Now()
	// The first passes make the Node and write its status.
	for i := range 2 {
		if err := r.ensureNode(context.Background(), mc, a, true, now.Add(time.Duration(i)*time.Second), r.leaseDuration()/4); err != nil {
			t.Fatal(err)
		}
	}
	writes.Store(0)
	if err := r.ensureNode(context.Background(), mc, a, true, now.Add(2*time.Second), r.leaseDuration()/4); err != nil {
		t.Fatal(err)
	}
	if n := writes.Load(); n != 0 {
		t.Errorf("%d Node writes on a pass over an unchanged Node, want none", n)
	}
	// A label the Node lost is put back.
	node := &corev1.Node{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: agentnode.NodeName("m", a.Hostname, a.Port)}, node); err != nil {
		t.Fatal(err)
	}
	delete(node.Labels, agentnode.LabelCluster)
	if err := c.Update(context.Background(), node); err != nil {
		t.Fatal(err)
	}
	if err := r.ensureNode(context.Background(), mc, a, true, now.Add(3*time.Second), r.leaseDuration()/4); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(node), node); err != nil || node.Labels[agentnode.LabelCluster] != "m" {
		t.Errorf("Node labels %v (%v), want %s=m put back", node.Labels, err, agentnode.LabelCluster)
	}
}

// An attribute the agent no longer has leaves its Node's labels, so that it stops
// matching node selectors; labels others set stay.
func TestADroppedAttributeLeavesTheNodesLabels(t *testing.T) {
	c := nodesClient(t, func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
		return c.Create(ctx, o, opts...)
	})
	r := &AgentNodeReconciler{Client: c}
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"}}
	a := testAgents(1)[0]
	rack := func(v string) mesos.Attribute {
		return mesos.Attribute{Name: "rack", Type: mesos.TEXT, Text: &mesos.Value_Text{Value: v}}
	}
	a.Attributes = []mesos.Attribute{rack("r1"), {Name: "zone", Type: mesos.TEXT, Text: &mesos.Value_Text{Value: "z1"}}}
	now := time.Now()
	if err := r.ensureNode(context.Background(), mc, a, true, now, r.leaseDuration()/4); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKey{Name: agentnode.NodeName("m", a.Hostname, a.Port)}
	node := &corev1.Node{}
	if err := c.Get(context.Background(), key, node); err != nil {
		t.Fatal(err)
	}
	node.Labels["example.com/team"] = "a" // someone else's
	if err := c.Update(context.Background(), node); err != nil {
		t.Fatal(err)
	}

	a.Attributes = []mesos.Attribute{rack("r2")} // zone dropped, rack changed
	if err := r.ensureNode(context.Background(), mc, a, true, now.Add(time.Second), r.leaseDuration()/4); err != nil {
		t.Fatal(err)
	}

	if err := c.Get(context.Background(), key, node); err != nil {
		t.Fatal(err)
	}
	if _, ok := node.Labels[agentnode.LabelAttributePrefix+"zone"]; ok {
		t.Errorf("labels %v keep the dropped attribute zone", node.Labels)
	}
	if node.Labels[agentnode.LabelAttributePrefix+"rack"] != "r2" || node.Labels["example.com/team"] != "a" {
		t.Errorf("labels %v, want rack r2 and the team label kept", node.Labels)
	}
}
