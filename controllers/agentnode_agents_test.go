package controllers

import (
	"context"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// Two agent ids of one host and port (an agent restarted with a new id, the old one
// still known) make one Node, written for one of them: the active one, else the one that
// offered last, else the greater id. Written for both, each pass would put back the
// other's id and capacity, and each write would wake another pass.
func TestOneAgentPerNode(t *testing.T) {
	now := time.Now()
	agent := func(id string, inactive bool, offered time.Duration, cpus float64) framework.Agent {
		a := framework.Agent{ID: id, Hostname: "h", Port: 5051, Inactive: inactive,
			Capacity: mesos.Resources{{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: cpus}}}}
		if offered != 0 {
			a.LastOffer = now.Add(offered)
		}
		return a
	}
	for _, tc := range []struct {
		name   string
		agents []framework.Agent
		want   string
	}{
		{name: "the active one", want: "new", agents: []framework.Agent{agent("old", true, -time.Second, 1), agent("new", false, -time.Minute, 2)}},
		{name: "the one that offered last", want: "new", agents: []framework.Agent{agent("old", false, -time.Minute, 1), agent("new", false, -time.Second, 2)}},
		{name: "listed only: the greater id", want: "S2", agents: []framework.Agent{agent("S1", false, 0, 1), agent("S2", false, 0, 2)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var nodeWrites atomic.Int32
			count := func(o client.Object) {
				if _, ok := o.(*corev1.Node); ok {
					nodeWrites.Add(1)
				}
			}
			c, _ := fakeAPI(t, interceptor.Funcs{
				Patch: func(ctx context.Context, c client.WithWatch, o client.Object, p client.Patch, opts ...client.PatchOption) error {
					count(o)
					return c.Patch(ctx, o, p, opts...)
				},
				SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
					count(o)
					return c.SubResource(sub).Patch(ctx, o, p, opts...)
				}})
			r := &AgentNodeReconciler{Client: c}
			mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"}}
			st := framework.Status{Subscribed: true, AgentsListed: true, Agents: map[string]framework.Agent{}}
			for _, a := range tc.agents {
				st.Agents[a.ID] = a
			}
			pass := func(at time.Time) *corev1.Node {
				var nodes corev1.NodeList
				if err := c.List(context.Background(), &nodes); err != nil {
					t.Fatal(err)
				}
				r.pass(context.Background(), mc, nodes.Items, st, at)
				n := &corev1.Node{}
				if err := c.Get(context.Background(), client.ObjectKey{Name: "mesos-m-h"}, n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			pass(now)
			nodeWrites.Store(0)
			n := pass(now.Add(time.Second))
			if got := n.Annotations[agentnode.AnnotationAgentID]; got != tc.want {
				t.Errorf("the Node is agent %s's, want %s's", got, tc.want)
			}
			if w := nodeWrites.Load(); w != 0 {
				t.Errorf("%d writes of the Node on a pass where nothing changed, want none", w)
			}
		})
	}
}

// A Node that is not this cluster's is never taken over, nor its Lease renewed, though
// an agent of this cluster maps to its name: one labelled for another MesosCluster
// (cluster "a" with host "b-c" and cluster "a-b" with host "c" both make mesos-a-b-c),
// or one without the label that no MesosCluster made, a kubelet's (a host named
// a-b-c that joined as a kubelet). The cluster says so in an event, once.
func TestANodeNotTheClustersIsLeftAlone(t *testing.T) {
	theirs := agentnode.Desired("a", agentnode.Agent{ID: "theirs", Hostname: "b-c"})
	theirs.UID = "their-uid"
	kubelets := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: theirs.Name, UID: "kubelet-uid",
		Labels: map[string]string{corev1.LabelHostname: "mesos-a-b-c"}}}
	for _, tc := range []struct {
		name   string
		node   *corev1.Node
		labels map[string]string // the Node's, which must stay
		event  string            // in the event besides the reason and the Node
	}{
		{name: "another cluster's", node: theirs, labels: theirs.Labels, event: "MesosCluster a"},
		{name: "a kubelet's", node: kubelets, labels: kubelets.Labels, event: "not an agent's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			c, _ := fakeAPI(t, interceptor.Funcs{}, tc.node.DeepCopy())
			rec := events.NewFakeRecorder(10)
			r := &AgentNodeReconciler{Client: c, Recorder: rec}
			mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "a-b", UID: "u1"}}
			st := framework.Status{Subscribed: true, AgentsListed: true, Agents: map[string]framework.Agent{
				"ours": {ID: "ours", Hostname: "c"}}}
			if got := agentnode.NodeName("a-b", "c", 0); got != tc.node.Name {
				t.Fatalf("the agent's Node is %s, want %s (the test's premise)", got, tc.node.Name)
			}
			r.pass(context.Background(), mc, nil, st, now)
			n := &corev1.Node{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(tc.node), n); err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(n.Labels, tc.labels) || !maps.Equal(n.Annotations, tc.node.Annotations) || len(n.Spec.Taints) != len(tc.node.Spec.Taints) ||
				len(n.Status.Conditions) != 0 {
				t.Errorf("the Node was written: labels %v, annotations %v, taints %v, conditions %v", n.Labels, n.Annotations, n.Spec.Taints, n.Status.Conditions)
			}
			err := c.Get(context.Background(), client.ObjectKey{Namespace: nodeLeaseNamespace, Name: tc.node.Name}, &coordinationv1.Lease{})
			if !apierrors.IsNotFound(err) {
				t.Errorf("the Node's Lease: %v, want none made", err)
			}
			select {
			case e := <-rec.Events:
				if !strings.Contains(e, "Warning "+ReasonNodeNameTaken) || !strings.Contains(e, tc.node.Name) || !strings.Contains(e, tc.event) {
					t.Errorf("event %q, want a warning %s naming the Node and %q", e, ReasonNodeNameTaken, tc.event)
				}
			default:
				t.Error("no event says the agent has no Node")
			}
			// Said once, not on every pass.
			r.pass(context.Background(), mc, nil, st, now.Add(10*time.Second))
			select {
			case e := <-rec.Events:
				t.Errorf("the next pass says it again: %q", e)
			default:
			}
		})
	}
}

// A Node the cluster made stays its agent's though someone removed its
// mesos.k8sm.io/cluster label (its owner is the cluster): the label is put back.
func TestAnUnlabelledNodeTheClusterMadeIsItsAgents(t *testing.T) {
	mc := &mesosv1alpha1.MesosCluster{TypeMeta: metav1.TypeMeta{APIVersion: mesosv1alpha1.GroupVersion.String(), Kind: "MesosCluster"},
		ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"}}
	node := agentnode.Desired("m", agentnode.Agent{ID: "a1", Hostname: "h"})
	node.UID = "node-uid"
	delete(node.Labels, agentnode.LabelCluster)
	node.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(mc, mesosv1alpha1.GroupVersion.WithKind("MesosCluster"))}
	c, _ := fakeAPI(t, interceptor.Funcs{}, node)
	rec := events.NewFakeRecorder(10)
	r := &AgentNodeReconciler{Client: c, Recorder: rec}
	st := framework.Status{Subscribed: true, AgentsListed: true, Agents: map[string]framework.Agent{"a1": {ID: "a1", Hostname: "h"}}}
	r.pass(context.Background(), mc, nil, st, time.Now())
	n := &corev1.Node{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(node), n); err != nil {
		t.Fatal(err)
	}
	if n.Labels[agentnode.LabelCluster] != "m" {
		t.Errorf("labels %v, want the cluster's put back", n.Labels)
	}
	if ready := agentnode.ReadyCondition(n); ready == nil || ready.Status != corev1.ConditionTrue {
		t.Errorf("Ready %v, want True", ready)
	}
	select {
	case e := <-rec.Events:
		t.Errorf("event %q, want none", e)
	default:
	}
}

// An agent's Node advertises the kubelet API's port only while an executor on the agent
// says it serves it (the scheduler's KubeletAPIHeard): not on an agent where none runs,
// or where the port is taken. After a new subscription (a restart of the manager, the
// master back), a Node whose agent's executors have not said Hello yet keeps what it
// advertised, for KubeletAPIHeardFor, the time within which a running executor says it.
func TestAgentNodesAdvertiseTheKubeletAPIWhileServed(t *testing.T) {
	now := time.Now()
	c, _ := fakeAPI(t, interceptor.Funcs{})
	heard := map[string]int32{}
	r := &AgentNodeReconciler{Client: c, heard: func(cluster string) map[string]int32 {
		if cluster != "m" {
			t.Errorf("asked about cluster %s", cluster)
		}
		return heard
	}}
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"}}
	st := framework.Status{Subscribed: true, AgentsListed: true, SubscribedAt: now.Add(-time.Hour), Agents: map[string]framework.Agent{
		"a1": {ID: "a1", Hostname: "h1"}, "a2": {ID: "a2", Hostname: "h2"}, "a3": {ID: "a3", Hostname: "h3"}}}
	ports := func(at time.Time) map[string]int32 {
		t.Helper()
		var nodes corev1.NodeList
		if err := c.List(context.Background(), &nodes); err != nil {
			t.Fatal(err)
		}
		r.pass(context.Background(), mc, nodes.Items, st, at)
		if err := c.List(context.Background(), &nodes); err != nil {
			t.Fatal(err)
		}
		out := map[string]int32{}
		for _, n := range nodes.Items {
			out[n.Name] = n.Status.DaemonEndpoints.KubeletEndpoint.Port
		}
		return out
	}
	steps := []struct {
		name         string
		heard        map[string]int32
		subscribedAt time.Time
		at           time.Time
		want         map[string]int32
	}{
		{"a1 served, a2's port taken, no executor on a3", map[string]int32{"a1": 10350, "a2": 0}, now.Add(-time.Hour), now,
			map[string]int32{"mesos-m-h1": 10350, "mesos-m-h2": 0, "mesos-m-h3": 0}},
		{"a2's executor serves, a1's said nothing lately", map[string]int32{"a2": 10350}, now.Add(-time.Hour), now.Add(time.Second),
			map[string]int32{"mesos-m-h1": 0, "mesos-m-h2": 10350, "mesos-m-h3": 0}},
		{"subscribed again, nothing heard since", map[string]int32{}, now.Add(2 * time.Second), now.Add(3 * time.Second),
			map[string]int32{"mesos-m-h1": 0, "mesos-m-h2": 10350, "mesos-m-h3": 0}},
		{"a3's executor serves, the others not heard from yet", map[string]int32{"a3": 10350}, now.Add(2 * time.Second), now.Add(4 * time.Second),
			map[string]int32{"mesos-m-h1": 0, "mesos-m-h2": 10350, "mesos-m-h3": 10350}},
		{"nothing heard from a2 within the time an executor says Hello", map[string]int32{"a3": 10350}, now.Add(2 * time.Second), now.Add(3*time.Second + scheduler.KubeletAPIHeardFor),
			map[string]int32{"mesos-m-h1": 0, "mesos-m-h2": 0, "mesos-m-h3": 10350}},
	}
	for _, s := range steps {
		heard, st.SubscribedAt = s.heard, s.subscribedAt
		if got := ports(s.at); !maps.Equal(got, s.want) {
			t.Errorf("%s: the Nodes advertise %v, want %v", s.name, got, s.want)
		}
	}
}

// An agent that registers again with a new id (its work directory lost) keeps its Node,
// and the Node's providerID, which the API server lets no one change once set, names
// the agent as the Node's name does (cluster, host and port), not by the id it had
// first: the agent-id annotation follows the agent.
func TestTheProviderIDOutlivesTheAgentID(t *testing.T) {
	now := time.Now()
	c, _ := fakeAPI(t, interceptor.Funcs{})
	r := &AgentNodeReconciler{Client: c}
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"}}
	for i, id := range []string{"old", "new"} {
		st := framework.Status{Subscribed: true, AgentsListed: true, Agents: map[string]framework.Agent{id: {ID: id, Hostname: "h"}}}
		var nodes corev1.NodeList
		if err := c.List(context.Background(), &nodes); err != nil {
			t.Fatal(err)
		}
		r.pass(context.Background(), mc, nodes.Items, st, now.Add(time.Duration(i)*time.Second))
		n := &corev1.Node{}
		if err := c.Get(context.Background(), client.ObjectKey{Name: "mesos-m-h"}, n); err != nil {
			t.Fatal(err)
		}
		if got := n.Annotations[agentnode.AnnotationAgentID]; got != id {
			t.Errorf("agent %s: the Node's agent-id annotation is %s", id, got)
		}
		if n.Spec.ProviderID != "mesos://m/h" {
			t.Errorf("agent %s: the Node's providerID is %s, want mesos://m/h", id, n.Spec.ProviderID)
		}
	}
}

// A cluster without GPU_RESOURCES is offered nothing of an agent with GPUs while the
// master filters them (its default): the agent's Node, listed by GET_AGENTS, has no GPU
// allocatable and its Ready condition names the missing capability, until the agent
// offers. With the capability its GPUs are allocatable.
func TestAGPUAgentsNodeWithoutGPUResources(t *testing.T) {
	now := time.Now()
	res := mesos.Resources{
		{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 4}},
		{Name: "gpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 2}},
	}
	for _, tc := range []struct {
		name      string
		caps      []mesosv1alpha1.FrameworkCapability
		offered   time.Time
		reported  bool
		wantGPUs  int64
		wantReady string
	}{
		{name: "listed, never offered", wantGPUs: 0, wantReady: agentnode.ReasonAgentNeedsGPUResources},
		{name: "offered", offered: now, wantGPUs: 0, wantReady: agentnode.ReasonAgentReady},
		{name: "running the cluster's tasks, not offered since the subscription", reported: true, wantGPUs: 0, wantReady: agentnode.ReasonAgentReady},
		{name: "GPU_RESOURCES asked for", caps: []mesosv1alpha1.FrameworkCapability{"GPU_RESOURCES"}, wantGPUs: 2, wantReady: agentnode.ReasonAgentReady},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := fakeAPI(t, interceptor.Funcs{})
			r := &AgentNodeReconciler{Client: c}
			mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"}}
			mc.Spec.Framework.Capabilities = tc.caps
			st := framework.Status{Subscribed: true, AgentsListed: true, SubscribedAt: now, Agents: map[string]framework.Agent{
				"a1": {ID: "a1", Hostname: "h", Capacity: res, Allocatable: res, Total: res, LastOffer: tc.offered}}}
			if tc.reported {
				st.Reported = map[string]bool{"a1": true}
			}
			r.pass(context.Background(), mc, nil, st, now)
			n := &corev1.Node{}
			if err := c.Get(context.Background(), client.ObjectKey{Name: "mesos-m-h"}, n); err != nil {
				t.Fatal(err)
			}
			if q := n.Status.Allocatable[agentnode.ResourceGPU]; q.Value() != tc.wantGPUs {
				t.Errorf("allocatable %s = %s, want %d", agentnode.ResourceGPU, q.String(), tc.wantGPUs)
			}
			if ready := agentnode.ReadyCondition(n); ready == nil || ready.Status != corev1.ConditionTrue || ready.Reason != tc.wantReady {
				t.Errorf("Ready = %+v, want True, reason %s", ready, tc.wantReady)
			}
		})
	}
}

// What of an agent no label can hold (here a zone, then an attribute too) is told on its
// Node in a Warning event: once, and again only when it changes.
func TestAnAgentsUnlabeledPartsAreToldOnItsNode(t *testing.T) {
	c, _ := fakeAPI(t, interceptor.Funcs{})
	rec := events.NewFakeRecorder(10)
	r := &AgentNodeReconciler{Client: c, Recorder: rec}
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"}}
	a := framework.Agent{ID: "a1", Hostname: "h", Domain: &mesos.DomainInfo{FaultDomain: &mesos.DomainInfo_FaultDomain{
		Region: mesos.DomainInfo_FaultDomain_RegionInfo{Name: "eu-1"}, Zone: mesos.DomainInfo_FaultDomain_ZoneInfo{Name: "eu 1/a"}}}}
	now := time.Now()
	pass := func(a framework.Agent) {
		t.Helper()
		now = now.Add(10 * time.Second)
		var nodes corev1.NodeList
		if err := c.List(context.Background(), &nodes); err != nil {
			t.Fatal(err)
		}
		r.pass(context.Background(), mc, nodes.Items, framework.Status{Subscribed: true, AgentsListed: true, Agents: map[string]framework.Agent{a.ID: a}}, now)
	}
	told := func(want ...string) {
		t.Helper()
		select {
		case e := <-rec.Events:
			if len(want) == 0 {
				t.Errorf("event %q, want none", e)
				return
			}
			for _, w := range append(want, "Warning "+ReasonUnlabeled, "a1") {
				if !strings.Contains(e, w) {
					t.Errorf("event %q, want it to say %q", e, w)
				}
			}
		default:
			if len(want) != 0 {
				t.Errorf("no event, want one saying %q", want)
			}
		}
	}
	pass(a)
	told(`zone "eu 1/a"`)
	n := &corev1.Node{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: "mesos-m-h"}, n); err != nil {
		t.Fatal(err)
	}
	if n.Labels[corev1.LabelTopologyRegion] != "eu-1" {
		t.Errorf("labels %v, want the region's", n.Labels)
	}
	pass(a)
	told() // said once
	a.Attributes = []mesos.Attribute{{Name: "rack", Type: mesos.TEXT, Text: &mesos.Value_Text{Value: "row 1"}}}
	pass(a)
	told(`zone "eu 1/a"`, `attribute rack="row 1"`) // it changed
	a.Attributes, a.Domain = nil, nil
	pass(a)
	told()
}
