package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/podtask"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// A pod bound to an agent's Node whose task waits to be launched there (its launch was
// dropped by Mesos as the agent left, say: the binding is the launch record, and a bound
// pod cannot move) waits for an offer of that agent. Once the Node is deleted (the agent
// left for good: the Node reconciler deletes it after its grace period, keeping it while
// a task of it may come back) no offer of it will come: the task ends Gone and the pod
// Failed with NodeLost (podtask.NodeDeleted), for its controller to make it again, as
// the pod garbage collector of kube-controller-manager would delete it, where one runs.

// nodeGone records a deleted Node and has the MesosTasks of the pods bound to it looked
// at again (endOnDeletedNode). Only a deletion seen counts: a Node not made yet (an
// agent's first offers may come before it) is not a deleted one.
func (r *MesosTaskReconciler) nodeGone(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[ctrl.Request]) {
	node, ok := e.Object.(*corev1.Node)
	if !ok {
		return
	}
	r.deletedNodes.Store(node.Name, struct{}{})
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.MatchingFields{indexer.PodNodeName: node.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	for i := range pods.Items {
		q.Add(ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&pods.Items[i])})
	}
}

// nodeDeleted says whether the Node a pod is bound to was deleted (nodeGone) and not
// made again.
func (r *MesosTaskReconciler) nodeDeleted(ctx context.Context, name string) (bool, error) {
	if _, ok := r.deletedNodes.Load(name); !ok {
		return false, nil
	}
	err := r.Get(ctx, client.ObjectKey{Name: name}, &corev1.Node{}, client.UnsafeDisableDeepCopy)
	switch {
	case apierrors.IsNotFound(err):
		return true, nil
	case err != nil:
		return false, err
	}
	r.deletedNodes.Delete(name) // made again: its agent came back
	return false, nil
}

// endOnDeletedNode ends the task of a pod whose Node was deleted before the task ran
// (see above): it leaves the queue, and its MesosTask turns Gone, from which its pod is
// Failed (tellPodOfEnd).
func (r *MesosTaskReconciler) endOnDeletedNode(ctx context.Context, mt *mesosv1alpha1.MesosTask, pod *corev1.Pod, sched *scheduler.Scheduler) (ctrl.Result, error) {
	sched.Dequeue(mt.Spec.TaskID)
	mt.Status = podtask.NodeDeleted(mt.Status, pod.Spec.NodeName, metav1.Now())
	podtask.StampGeneration(mt)
	// With the version read: an update the scheduler wrote meanwhile is read again.
	if err := r.Update(ctx, mt); err != nil {
		return retryConflict(client.IgnoreNotFound(err))
	}
	ctrl.LoggerFrom(ctx).Info("Ended the task of a pod whose Node was deleted before the task ran", "task", mt.Spec.TaskID, "node", pod.Spec.NodeName)
	if r.Recorder != nil {
		r.Recorder.Eventf(mt, nil, corev1.EventTypeWarning, podtask.ReasonNodeLost, "Launch", "%s", mt.Status.Message)
	}
	return ctrl.Result{}, nil
}
