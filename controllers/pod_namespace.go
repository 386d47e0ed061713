package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/podtask"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// A MesosCluster's spec.namespaceSelector says which namespaces' pods it takes. A pod
// of another namespace is refused, and told: one waiting to be placed stays Pending with
// PodScheduled=False, reason NamespaceNotAllowed, out of the cluster's queue, until its
// namespace's labels or the selector let it; one bound to an agent's Node by another
// fails, as a pod a kubelet does not admit. Pods already bound by the cluster were taken
// when they were placed, and are left alone.

// namespaceAllowed says whether a cluster takes the pods of a namespace
// (podtask.NamespaceTaken); a namespace that is gone is taken by none.
func namespaceAllowed(ctx context.Context, c client.Client, mc *mesosv1alpha1.MesosCluster, namespace string) (bool, error) {
	if mc.Spec.NamespaceSelector == nil {
		return true, nil
	}
	ns := &corev1.Namespace{}
	if err := c.Get(ctx, client.ObjectKey{Name: namespace}, ns, client.UnsafeDisableDeepCopy); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return podtask.NamespaceTaken(mc, ns), nil
}

// namespaceRefused takes an unbound pod of a namespace its cluster does not take out of
// the cluster's queue (it may have been queued before the selector or the namespace's
// labels changed), and tells it why it waits: PodScheduled=False with reason
// NamespaceNotAllowed, and a warning event, when that changes its status.
func (r *PodReconciler) namespaceRefused(ctx context.Context, pod *corev1.Pod, mc *mesosv1alpha1.MesosCluster) error {
	if s := r.Registry.Scheduler(mc.Name); s != nil {
		s.Dequeue(podtask.TaskIDFor(pod))
	}
	msg := podtask.NamespaceNotTakenMessage(mc.Name, pod.Namespace)
	wrote, err := scheduler.WritePodNotScheduled(ctx, r.Client, r.Recorder, pod,
		func(ps *corev1.PodStatus) { podtask.SetNamespaceNotTaken(ps, msg) }, podtask.ReasonNamespaceNotAllowed, msg)
	if wrote {
		ctrl.LoggerFrom(ctx).V(1).Info("The pod's namespace is not one its MesosCluster takes", "cluster", mc.Name)
	}
	return err
}

// notAdmitted fails a pod bound to an agent's Node of a cluster that does not take pods
// of its namespace.
func (r *PodReconciler) notAdmitted(ctx context.Context, pod *corev1.Pod, mc *mesosv1alpha1.MesosCluster) error {
	msg := podtask.NotAdmittedMessage(mc.Name, pod.Namespace, pod.Spec.NodeName)
	before := pod.DeepCopy()
	podtask.SetNotAdmitted(&pod.Status, msg)
	podtask.ObserveGeneration(pod, &pod.Status)
	if err := r.Status().Patch(ctx, pod, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(err)
	}
	if r.Recorder != nil {
		r.Recorder.Eventf(pod, nil, corev1.EventTypeWarning, podtask.ReasonNamespaceNotAllowed, "Admit", "%s", msg)
	}
	return nil
}

// podsOfNamespace lists the unbound pods of a namespace whose labels changed that name
// the schedulerName of a cluster with a namespaceSelector: the change may let them in,
// or keep them out.
func (r *PodReconciler) podsOfNamespace(ctx context.Context, o client.Object) []ctrl.Request {
	var clusters mesosv1alpha1.MesosClusterList
	if err := r.List(ctx, &clusters, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	var reqs []ctrl.Request
	for i := range clusters.Items {
		mc := &clusters.Items[i]
		if mc.Spec.NamespaceSelector == nil {
			continue
		}
		var pods corev1.PodList
		if err := r.List(ctx, &pods, client.InNamespace(o.GetName()), client.MatchingFields{indexer.PodSchedulerName: mc.Spec.SchedulerName},
			client.UnsafeDisableDeepCopy); err != nil {
			continue
		}
		for j := range pods.Items {
			if p := &pods.Items[j]; p.Spec.NodeName == "" && p.DeletionTimestamp.IsZero() {
				reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(p)})
			}
		}
	}
	return reqs
}

// namespaceLabelsChanged passes the namespace updates that change its labels, which
// namespaceSelectors match. A namespace that is created has no pods yet.
var namespaceLabelsChanged = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		return !equality.Semantic.DeepEqual(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels())
	},
}
