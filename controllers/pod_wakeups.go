package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/podtask"
)

// podsOfClusterNamed is podsOfCluster of a wake-up, which names its cluster only.
func (r *PodReconciler) podsOfClusterNamed(ctx context.Context, o client.Object) []ctrl.Request {
	mc := &mesosv1alpha1.MesosCluster{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(o), mc); err != nil {
		return nil
	}
	reqs := r.podsOfCluster(ctx, mc)
	if _, answered := r.Registry.AnsweredFor(mc.Name); answered {
		// The Ready that waited for Mesos's answers (reconciled_wakeups.go).
		reqs = append(reqs, r.notReadyPodsOfCluster(ctx, mc)...)
	}
	return reqs
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

// boundPodsOfCluster lists the cluster's bound pods that have not ended: those a longer
// failover timeout has tolerate outages longer (failoverTimeoutRaised).
func (r *PodReconciler) boundPodsOfCluster(ctx context.Context, o client.Object) []ctrl.Request {
	return r.podsOfSchedulerWhere(ctx, o, func(p *corev1.Pod) bool {
		return p.Spec.NodeName != "" && p.DeletionTimestamp.IsZero() && !podtask.PodTerminal(p)
	})
}

// podsOfSchedulerWhere lists the pods that name the cluster's schedulerName and keep
// passes.
func (r *PodReconciler) podsOfSchedulerWhere(ctx context.Context, o client.Object, keep func(*corev1.Pod) bool) []ctrl.Request {
	pods, err := r.tasks().PodsOfScheduler(ctx, o.(*mesosv1alpha1.MesosCluster).Spec.SchedulerName)
	if err != nil {
		return nil
	}
	var reqs []ctrl.Request
	for _, p := range pods {
		if keep(p) {
			reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(p)})
		}
	}
	return reqs
}

// failoverTimeoutRaised passes a cluster change that lengthens its failover timeout. Its
// running pods tolerate outages as long as the old timeout, and nothing else has the
// Pod reconciler look at them again before an outage: without this, a manager outage
// longer than the old timeout and shorter than the new would have them evicted, though
// Mesos keeps their tasks.
var failoverTimeoutRaised = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*mesosv1alpha1.MesosCluster)
		n, ok2 := e.ObjectNew.(*mesosv1alpha1.MesosCluster)
		return ok1 && ok2 && failoverTimeout(n) > failoverTimeout(o)
	},
}
