package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
)

// frameworkRemovedNodes settles the Nodes of a cluster whose framework Mesos removed
// (driverSaysRemoved): each turns Ready=Unknown saying so (agentnode.FrameworkRemoved),
// where it does not yet, and nothing else is written. No Lease is renewed, no Node made
// or deleted: Mesos runs nothing for the framework any more, and the Nodes go with the
// MesosCluster, which is to be made anew.
func (r *AgentNodeReconciler) frameworkRemovedNodes(ctx context.Context, mc *mesosv1alpha1.MesosCluster, nodes []corev1.Node, now time.Time) {
	forEach(ctx, len(nodes), nodePace(len(nodes), r.leaseDuration()), func(i int) {
		n := &nodes[i]
		removed := agentnode.FrameworkRemoved(mc.Status.FrameworkID, metav1.NewTime(now), n.Status.Conditions)
		if ready := agentnode.ReadyCondition(n); ready != nil && ready.Status == removed.Status && ready.Reason == removed.Reason && ready.Message == removed.Message {
			return
		}
		r.nodeFailed(ctx, mc.Name, n.Name, r.writeConditions(ctx, n, removed))
	})
}
