package controllers

import (
	"context"
	"sync"
	"time"

	"github.com/k8sm/k8sm/internal/indexer"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
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
}

// renewLease keeps the Node's Lease in kube-node-lease current, as a kubelet does.
func (r *AgentNodeReconciler) renewLease(ctx context.Context, node *corev1.Node, now time.Time) error {
	key := client.ObjectKey{Namespace: nodeLeaseNamespace, Name: node.Name}
	renew := metav1.NewMicroTime(now)
	lease := r.leases.get(node.Name)
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
	if lease.Spec.RenewTime != nil && now.Sub(lease.Spec.RenewTime.Time) < r.leaseDuration()/4 {
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
