package testenv

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// KeepOrdinaryNodesReady makes n Nodes (worker-0 …) that a kubelet would keep Ready,
// renewing their Leases every second until stop is called, so that kube-controller-
// manager's node lifecycle controller sees a cluster whose other Nodes are healthy (with
// every Node down it would take the API server for the problem and evict nothing). stop
// also removes the Nodes and their Leases.
func KeepOrdinaryNodesReady(ctx context.Context, c client.Client, n int) (stop func(), err error) {
	var made []client.Object
	remove := func() {
		for _, o := range made {
			_ = c.Delete(context.Background(), o)
		}
	}
	for i := range n {
		name := fmt.Sprintf("worker-%d", i)
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := c.Create(ctx, node); err != nil {
			remove()
			return nil, err
		}
		made = append(made, node)
		node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		if err := c.Status().Update(ctx, node); err != nil {
			remove()
			return nil, err
		}
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-node-lease", Name: name},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To[int32](4),
				// Renewed from the start: the node lifecycle controller counts a renewal only
				// when it is later than the renewTime it saw first, and nothing is later than none.
				RenewTime: ptr.To(metav1.NewMicroTime(time.Now()))}}
		if err := c.Create(ctx, lease); err != nil {
			remove()
			return nil, err
		}
		made = append(made, lease)
	}
	hb, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-hb.Done():
				return
			case <-t.C:
			}
			for i := range n {
				lease := &coordinationv1.Lease{}
				if c.Get(hb, client.ObjectKey{Namespace: "kube-node-lease", Name: fmt.Sprintf("worker-%d", i)}, lease) == nil {
					lease.Spec.RenewTime = ptr.To(metav1.NewMicroTime(time.Now()))
					_ = c.Update(hb, lease)
				}
			}
		}
	}()
	return func() { cancel(); <-done; remove() }, nil
}
