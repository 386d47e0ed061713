package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/podtask"
)

// What waits for Mesos's answers after a subscription (mesosAnswered): a pod of an agent
// unreachable past the timeout (NodeLost) and a pod the node lifecycle marked NotReady
// through an outage (its Ready restored). Each is looked at again when the cluster's
// driver says Mesos answered (a wake-up of the Registry's, which SetReconciled sends) and
// when its Reconciled condition turns True, and then once the answers held back are
// written; the periodic recheck (unansweredRecheck) is only for what both miss (a wake-up
// dropped, a condition that went True to True between two reads).

// reconciledTurnedTrue passes a MesosCluster update whose Reconciled condition turned
// True: Mesos answered for the cluster's tasks since the framework subscribed.
var reconciledTurnedTrue = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*mesosv1alpha1.MesosCluster)
		n, ok2 := e.ObjectNew.(*mesosv1alpha1.MesosCluster)
		return ok1 && ok2 && !meta.IsStatusConditionTrue(o.Status.Conditions, mesosv1alpha1.ConditionReconciled) &&
			meta.IsStatusConditionTrue(n.Status.Conditions, mesosv1alpha1.ConditionReconciled)
	},
}

// notReadyPodsOfCluster lists the cluster's bound pods that run and are not Ready: those
// whose Ready may be restored once Mesos answered (reevaluateReadiness).
func (r *PodReconciler) notReadyPodsOfCluster(ctx context.Context, o client.Object) []ctrl.Request {
	return r.podsOfSchedulerWhere(ctx, o, func(p *corev1.Pod) bool {
		return p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning && !podReady(p)
	})
}

// podReady says whether a pod's Ready condition is True.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// unreachableTasksOfCluster lists the cluster's MesosTasks that say unreachable: those
// whose pods are failed NodeLost once Mesos answered (stillUnreachable).
func (r *MesosTaskReconciler) unreachableTasksOfCluster(ctx context.Context, o client.Object) []ctrl.Request {
	var list mesosv1alpha1.MesosTaskList
	if err := r.List(ctx, &list, client.MatchingFields{indexer.ClusterRef: o.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	var reqs []ctrl.Request
	for i := range list.Items {
		if mt := &list.Items[i]; mt.Status.Phase == mesosv1alpha1.TaskPhaseUnreachable {
			reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(mt)})
		}
	}
	return reqs
}

// tasksToWake lists what a wake-up of a cluster's driver concerns: its pending tasks (the
// driver changed), and its unreachable ones once Mesos answered since the framework
// subscribed (their NodeLost waited on it). The cluster's MesosTasks are read from the
// Store without copies (to read only): a cluster of 10,000 tasks would otherwise be
// copied whole at each failover.
func (r *MesosTaskReconciler) tasksToWake(ctx context.Context, o client.Object) []ctrl.Request {
	var list mesosv1alpha1.MesosTaskList
	if err := r.List(ctx, &list, client.MatchingFields{indexer.ClusterRef: o.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	_, answered := r.Registry.AnsweredFor(o.GetName())
	var reqs []ctrl.Request
	for i := range list.Items {
		if mt := &list.Items[i]; !podtask.Launched(mt.Status.Phase) || (answered && mt.Status.Phase == mesosv1alpha1.TaskPhaseUnreachable) {
			reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(mt)})
		}
	}
	return reqs
}
