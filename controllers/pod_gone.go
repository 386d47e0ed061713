package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
)

// dequeueGone takes a pod that went out of the queue of its cluster. One that waited
// for an offer, unbound, goes at once when it is deleted (the API server gives such a
// pod no grace period), and has no MesosTask (it is written when Mesos first reports the
// task) whose going would take it out, as the MesosTask reconciler takes out the others;
// a pass over it finds it gone, and cannot tell its task id. Left there, it kept offers
// from being suppressed, was counted pending, and had pods of lower priority preempted
// for it. Its task is taken out by id: a pod made again under its name keeps its place.
func (r *PodReconciler) dequeueGone(ctx context.Context, e event.DeleteEvent, _ workqueue.TypedRateLimitingInterface[ctrl.Request]) {
	pod, ok := e.Object.(*corev1.Pod)
	if !ok || pod.UID == "" {
		return
	}
	var list mesosv1alpha1.MesosClusterList
	if err := r.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	for i := range list.Items {
		if s := r.Registry.Scheduler(list.Items[i].Name); s != nil {
			s.Dequeue(podtask.TaskIDFor(pod))
		}
	}
}
