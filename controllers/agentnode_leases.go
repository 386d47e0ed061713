package controllers

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/k8sm/k8sm/internal/indexer"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// leaseCopies are the agents' Node Leases as the API server last returned them, by Node
// name. A renewal updates that copy, as a kubelet renews its Lease from the one its last
// renewal returned, so the manager keeps no watch of kube-node-lease: every kubelet of
// the cluster renews its own Lease there every 10 s (at 5,000 Nodes, 500 events a second
// that the manager would decode and cache for nothing). A Lease no write has returned yet
// (after a start or a failover) is read from the API server once.
type leaseCopies struct {
	mu sync.Mutex
	m  map[string]*coordinationv1.Lease
	// absent are the Nodes whose Lease the last List lacked and that were not renewed
	// since: each is created without a read first.
	absent map[string]bool
	// listRefused is set once a List was forbidden (a Role without list, from an older
	// install): told once, and each Lease is read on its own from then on.
	listRefused atomic.Bool
}

// missing are the names that have no copy.
func (l *leaseCopies) missing(names []string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, n := range names {
		if l.m[n] == nil {
			out = append(out, n)
		}
	}
	return out
}

// takeAbsent says, once, that the last List lacked a Node's Lease.
func (l *leaseCopies) takeAbsent(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.absent[name] {
		return false
	}
	delete(l.absent, name)
	return true
}

// listedLeasePage is how many Leases a List of kube-node-lease asks for at a time.
const listedLeasePage = 500

// readLeases reads the Leases of the named Nodes that have no copy with one List of
// kube-node-lease, when at least a tenth of them (and more than one) have none: after a
// start, a new leader read 1,000 Leases one GET at a time while the reconciliation of
// its new subscription's 10,000 tasks waited for the same API server. A Lease the List
// lacks is created without a read first (takeAbsent). When the List fails, each Lease is
// read on its own, as before.
func (r *AgentNodeReconciler) readLeases(ctx context.Context, names []string) {
	missing := r.leases.missing(names)
	if len(missing) < 2 || len(missing)*10 < len(names) || r.leases.listRefused.Load() {
		return
	}
	found := map[string]*coordinationv1.Lease{}
	want := make(map[string]bool, len(missing))
	for _, n := range missing {
		want[n] = true
	}
	reader := indexer.Uncached(r.APIReader, r.Client)
	for next := ""; ; {
		// A page of its own each time: found points into its items.
		list := &coordinationv1.LeaseList{}
		if err := reader.List(ctx, list, client.InNamespace(nodeLeaseNamespace), client.Limit(listedLeasePage), client.Continue(next)); err != nil {
			if apierrors.IsForbidden(err) && !r.leases.listRefused.Swap(true) {
				ctrl.LoggerFrom(ctx).Info("May not list the Node Leases; reading each on its own", "namespace", nodeLeaseNamespace, "error", err.Error())
			}
			return // read on their own this time
		}
		for i := range list.Items {
			if want[list.Items[i].Name] {
				found[list.Items[i].Name] = &list.Items[i]
			}
		}
		if next = list.Continue; next == "" {
			break
		}
	}
	l := &r.leases
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*coordinationv1.Lease{}
	}
	if l.absent == nil {
		l.absent = map[string]bool{}
	}
	for _, n := range missing {
		switch lease := found[n]; {
		case lease != nil && l.m[n] == nil:
			lease.ManagedFields = nil
			l.m[n] = lease
		case lease == nil && l.m[n] == nil:
			l.absent[n] = true
		}
	}
}

func (l *leaseCopies) get(name string) *coordinationv1.Lease {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[name]
}

// put keeps a Lease as returned, without its managed fields (an Update that has none
// leaves them as they are).
func (l *leaseCopies) put(lease *coordinationv1.Lease) {
	lease.ManagedFields = nil
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*coordinationv1.Lease{}
	}
	l.m[lease.Name] = lease
}

func (l *leaseCopies) forget(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, name)
	delete(l.absent, name)
}

// renewLease keeps the Node's Lease in kube-node-lease current, as a kubelet does: it is
// renewed once it is age old (renewAge).
func (r *AgentNodeReconciler) renewLease(ctx context.Context, node *corev1.Node, now time.Time, age time.Duration) error {
	key := client.ObjectKey{Namespace: nodeLeaseNamespace, Name: node.Name}
	renew := metav1.NewMicroTime(now)
	lease := r.leases.get(node.Name)
	if lease == nil && r.leases.takeAbsent(node.Name) {
		return r.createLease(ctx, node, key, renew)
	}
	if lease == nil {
		lease = &coordinationv1.Lease{}
		err := indexer.Uncached(r.APIReader, r.Client).Get(ctx, key, lease)
		if apierrors.IsNotFound(err) {
			return r.createLease(ctx, node, key, renew)
		}
		if err != nil {
			return err
		}
		r.leases.put(lease)
	}
	if lease.Spec.RenewTime != nil && now.Sub(lease.Spec.RenewTime.Time) < age {
		return nil
	}
	// An Update, as a kubelet renews its Lease: it goes as protobuf, where a merge patch
	// has the API server decode JSON and apply it (at 1,000 agents, 100 renewals a
	// second). A Lease written since the copy (by another replica, during a failover) is
	// renewed by a merge patch instead, never left to age.
	renewed := lease.DeepCopy()
	renewed.Spec.RenewTime = &renew
	renewed.Spec.HolderIdentity = ptr.To(node.Name)
	renewed.Spec.LeaseDurationSeconds = ptr.To(int32(r.leaseDuration().Seconds()))
	err := r.Update(ctx, renewed)
	if apierrors.IsConflict(err) {
		err = r.Patch(ctx, renewed, client.MergeFrom(lease))
	}
	if err != nil {
		r.leases.forget(node.Name) // read it again next time: it may be gone, or written since
		return err
	}
	r.leases.put(renewed)
	return nil
}

// createLease creates the Node's Lease, renewed now, owned by the Node as a kubelet's
// is, so that it goes with the Node. Never by a Node without a UID: the garbage collector
// finds no owner of an empty UID and deletes the Lease, and the Node goes NotReady.
func (r *AgentNodeReconciler) createLease(ctx context.Context, node *corev1.Node, key client.ObjectKey, renew metav1.MicroTime) error {
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(node.Name), LeaseDurationSeconds: ptr.To(int32(r.leaseDuration().Seconds())), RenewTime: &renew},
	}
	if node.UID != "" {
		lease.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
	}
	if err := r.Create(ctx, lease); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil // made meanwhile: the next pass reads and renews it
		}
		return err
	}
	r.leases.put(lease)
	return nil
}
