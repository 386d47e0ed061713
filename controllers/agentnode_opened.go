package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/k8sm/k8sm/internal/agentnode"
)

// nodeOpened has a cluster's waiting pods placed again when one of its agents' Nodes
// opens to them (agentnode.Opened: uncordoned, a taint removed, its labels changed), as
// kube-scheduler retries its pods on such a change. A round declined the agent's offers
// with a refuse filter, and the pods would otherwise wait it out (up to
// spec.placement.refuseSeconds).
func (r *AgentNodeReconciler) nodeOpened(ctx context.Context, e event.UpdateEvent, _ workqueue.TypedRateLimitingInterface[ctrl.Request]) {
	before, _ := e.ObjectOld.(*corev1.Node)
	after, _ := e.ObjectNew.(*corev1.Node)
	if !agentnode.Opened(before, after) {
		return
	}
	if s := r.Registry.Scheduler(agentnode.ClusterOfNode(after)); s != nil {
		s.NodeOpened(ctx)
	}
}
