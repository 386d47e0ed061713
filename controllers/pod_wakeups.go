package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/indexer"
)

// podsOfClusterNamed is podsOfCluster of a wake-up, which names its cluster only.
func (r *PodReconciler) podsOfClusterNamed(ctx context.Context, o client.Object) []ctrl.Request {
	mc := &mesosv1alpha1.MesosCluster{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(o), mc); err != nil {
		return nil
	}
	return r.podsOfCluster(ctx, mc)
}

// podsOfCluster lists the pods a cluster may take or must remove: the unbound or
// deleted ones that name its schedulerName (every one, once Mesos removed its framework:
// their tasks ended with it, see endOfRemovedFramework), and those bound to its agents'
// Nodes.
func (r *PodReconciler) podsOfCluster(ctx context.Context, o client.Object) []ctrl.Request {
	mc := o.(*mesosv1alpha1.MesosCluster)
	tasks := r.tasks()
	pods, err := tasks.PodsOfScheduler(ctx, mc.Spec.SchedulerName)
	if err != nil {
		return nil
	}
	removed := frameworkRemoved(mc, r.Registry)
	var reqs []ctrl.Request
	for _, p := range pods {
		if removed || p.Spec.NodeName == "" || !p.DeletionTimestamp.IsZero() {
			reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(p)})
		}
	}
	var nodes corev1.NodeList
	if err := r.List(ctx, &nodes, client.MatchingLabels{agentnode.LabelCluster: mc.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return reqs
	}
	for i := range nodes.Items {
		bound, err := tasks.PodsOnNode(ctx, nodes.Items[i].Name)
		if err != nil {
			continue
		}
		for _, p := range bound {
			if p.Spec.SchedulerName != mc.Spec.SchedulerName {
				reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(p)})
			}
		}
	}
	return reqs
}

// tasks is r.Tasks, or a List of r.Client's field indexes.
func (r *PodReconciler) tasks() indexer.Tasks {
	if r.Tasks != nil {
		return r.Tasks
	}
	return indexer.ListTasks{Reader: r.Client}
}
