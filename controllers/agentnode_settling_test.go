package controllers

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/framework"
)

// leaseAt is the Lease of Node name, last renewed at renewed.
func leaseAt(name string, renewed time.Time) *coordinationv1.Lease {
	at := metav1.NewMicroTime(renewed)
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: nodeLeaseNamespace, Name: name,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: name, UID: types.UID("uid-" + name)}}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To(int32(40)), RenewTime: &at}}
}

// leaseRenewTime is when Node name's Lease was last renewed.
func leaseRenewTime(t *testing.T, c client.Client, name string) time.Time {
	t.Helper()
	l := &coordinationv1.Lease{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: nodeLeaseNamespace, Name: name}, l); err != nil {
		t.Fatal(err)
	}
	return l.Spec.RenewTime.Time
}

// A Lease is renewed at a quarter of its duration, as a kubelet's, but at three eighths
// while the framework settles: without a subscription for a moment, or subscribed again
// with its tasks not all reconciled. A new leader's renewals then wait for the
// reconciliation of its tasks, well before any Lease runs out.
func TestRenewAge(t *testing.T) {
	r := &AgentNodeReconciler{}
	for _, tc := range []struct {
		name   string
		status framework.Status
		want   time.Duration
	}{
		{name: "subscribed and reconciled", status: framework.Status{Subscribed: true, Reconciled: true}, want: 10 * time.Second},
		{name: "subscribed, reconciling", status: framework.Status{Subscribed: true}, want: 15 * time.Second},
		{name: "not subscribed", status: framework.Status{}, want: 15 * time.Second},
	} {
		if got := r.renewAge(tc.status); got != tc.want {
			t.Errorf("%s: Leases renewed at %v old, want %v", tc.name, got, tc.want)
		}
	}
}

// A framework without a subscription for less than outageGrace (a new leader, a master
// that failed over) writes nothing to its Nodes: they went MesosMasterReachable=False
// and back, 2,000 Node writes at 1,000 agents, while the new subscription's tasks were
// being reconciled. Only a Lease that is getting old is renewed. Past the grace, the
// Nodes say the master is unreachable since the outage began.
func TestABriefLossOfTheSubscriptionWritesNoNode(t *testing.T) {
	t0 := time.Now()
	agents := testAgents(2)
	var objs []client.Object
	names := make([]string, len(agents))
	for i, a := range agents {
		n := agentNodeObject(a, false, t0)
		objs, names[i] = append(objs, n), n.Name
	}
	// One Lease past three eighths of its duration, one past a quarter only.
	old, fresh := t0.Add(-20*time.Second), t0.Add(-12*time.Second)
	objs = append(objs, leaseAt(names[0], old), leaseAt(names[1], fresh))
	var nodeWrites atomic.Int32
	c, _ := fakeAPI(t, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			if _, ok := o.(*corev1.Node); ok {
				nodeWrites.Add(1)
			}
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		}}, objs...)
	r := &AgentNodeReconciler{Client: c}
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"}, Status: mesosv1alpha1.MesosClusterStatus{FrameworkID: "fw"}}
	pass := func(st framework.Status, at time.Time) time.Duration {
		t.Helper()
		r.Now = func() time.Time { return at }
		var nodes corev1.NodeList
		if err := c.List(context.Background(), &nodes); err != nil {
			t.Fatal(err)
		}
		return r.pass(context.Background(), mc, nodes.Items, st, at)
	}
	reachable := func(name string) *corev1.NodeCondition {
		t.Helper()
		n := &corev1.Node{}
		if err := c.Get(context.Background(), client.ObjectKey{Name: name}, n); err != nil {
			t.Fatal(err)
		}
		return agentnode.Condition(n, agentnode.ConditionMasterReachable)
	}

	for _, at := range []time.Time{t0, t0.Add(outageGrace / 2)} {
		requeue := pass(framework.Status{}, at)
		if n := nodeWrites.Load(); n != 0 {
			t.Fatalf("%v without a subscription, %d Node writes, want none", at.Sub(t0), n)
		}
		if want := outageGrace - at.Sub(t0); requeue <= 0 || requeue > want {
			t.Errorf("%v without a subscription, the next pass is due in %v, want once the grace ends (%v)", at.Sub(t0), requeue, want)
		}
	}
	if got := leaseRenewTime(t, c, names[0]); !got.Equal(t0.Truncate(time.Microsecond)) {
		t.Errorf("a Lease 20 s old was renewed at %v, want %v", got, t0)
	}
	if got := leaseRenewTime(t, c, names[1]); !got.Equal(fresh.Truncate(time.Microsecond)) {
		t.Errorf("a Lease 12 s old was renewed at %v while the framework settled, want left until 15 s", got)
	}

	pass(framework.Status{}, t0.Add(outageGrace))
	for _, name := range names {
		if m := reachable(name); m == nil || m.Status != corev1.ConditionFalse || !m.LastTransitionTime.Time.Equal(t0.Truncate(time.Second)) {
			t.Errorf("Node %s past the grace: MesosMasterReachable %+v, want False since %v", name, m, t0)
		}
	}
	if got := leaseRenewTime(t, c, names[1]); !got.Equal(t0.Add(outageGrace).Truncate(time.Microsecond)) {
		t.Errorf("through an outage a Lease 17 s old was renewed at %v, want at a quarter of its duration", got)
	}

	// Subscribed again, then lost again: a new grace.
	pass(framework.Status{Subscribed: true, Reconciled: true, AgentsListed: true}, t0.Add(time.Minute))
	writes := nodeWrites.Load()
	pass(framework.Status{}, t0.Add(time.Minute+time.Second))
	if n := nodeWrites.Load() - writes; n != 0 {
		t.Errorf("a second brief loss wrote %d Nodes, want none", n)
	}
}

// A pass reads the Leases it has no copy of with one List of kube-node-lease, not one
// GET each (1,000 at a new leader of 1,000 agents); one the List lacks is created. Where
// the List is refused (a Role without list), each is read on its own.
func TestLeasesWithoutACopyAreListed(t *testing.T) {
	for _, tc := range []struct {
		name        string
		refuse      bool
		page        int // the API server's pages, 0 for one
		lists, gets int32
	}{
		{name: "listed", lists: 1},
		{name: "listed in pages of 2", page: 2, lists: 3}, // 5 Leases
		{name: "list refused", refuse: true, lists: 1, gets: 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			agents := testAgents(8)
			var objs []client.Object
			names := make([]string, len(agents))
			for i, a := range agents {
				n := agentNodeObject(a, false, now)
				objs, names[i] = append(objs, n), n.Name
				if i%2 == 0 {
					objs = append(objs, leaseAt(n.Name, now.Add(-time.Minute)))
				}
			}
			objs = append(objs, leaseAt("a-kubelets-node", now)) // not the cluster's
			var lists, gets atomic.Int32
			c, base := fakeAPI(t, interceptor.Funcs{
				Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, o client.Object, opts ...client.GetOption) error {
					if _, ok := o.(*coordinationv1.Lease); ok {
						gets.Add(1)
					}
					return c.Get(ctx, key, o, opts...)
				},
				List: func(ctx context.Context, c client.WithWatch, l client.ObjectList, opts ...client.ListOption) error {
					if _, ok := l.(*coordinationv1.LeaseList); ok {
						lists.Add(1)
						if tc.refuse {
							return apierrors.NewForbidden(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, "", nil)
						}
						if tc.page > 0 {
							return listPage(ctx, c, l.(*coordinationv1.LeaseList), tc.page, opts...)
						}
					}
					return c.List(ctx, l, opts...)
				}}, objs...)
			r := &AgentNodeReconciler{Client: c}
			mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u1"}}
			r.ensureNodes(context.Background(), mc, agents, agentNodeNames(mc.Name, agents), true, now, r.leaseDuration()/4)
			if n := lists.Load(); n != tc.lists {
				t.Errorf("%d Lists of Leases, want %d", n, tc.lists)
			}
			if n := gets.Load(); n != tc.gets {
				t.Errorf("%d Leases read one by one, want %d", n, tc.gets)
			}
			expectLeasesRenewed(t, base, names, now)

			// The next pass renews each from its copy: nothing is read.
			lists.Store(0)
			gets.Store(0)
			later := now.Add(r.leaseDuration() / 2)
			r.ensureNodes(context.Background(), mc, agents, agentNodeNames(mc.Name, agents), true, later, r.leaseDuration()/4)
			if l, g := lists.Load(), gets.Load(); l != 0 || g != 0 {
				t.Errorf("the next pass listed %d times and read %d Leases, want neither", l, g)
			}
			expectLeasesRenewed(t, base, names, later)
		})
	}
}

// listPage lists Leases as an API server does in pages of size: the continue token is the
// index of the page's first item.
func listPage(ctx context.Context, c client.WithWatch, l *coordinationv1.LeaseList, size int, opts ...client.ListOption) error {
	o := (&client.ListOptions{}).ApplyOptions(opts)
	all := &coordinationv1.LeaseList{}
	if err := c.List(ctx, all, client.InNamespace(o.Namespace)); err != nil {
		return err
	}
	from, _ := strconv.Atoi(o.Continue)
	to := min(from+size, len(all.Items))
	l.Items, l.Continue = all.Items[from:to], ""
	if to < len(all.Items) {
		l.Continue = strconv.Itoa(to)
	}
	return nil
}
