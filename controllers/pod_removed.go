package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
)

// endOfRemovedFramework ends a pod of mc, once Mesos removed its framework
// (frameworkRemoved), as Mesos ended its task: the task killed with the framework, and
// nothing to report it. Its MesosTask turns Gone (podtask.EndedWithFramework), and the pod
// Failed from it (podtask.PodStatusFor), or, deleted, is removed at once with that
// status, as the pod of a cluster that is gone is (withoutCluster). done says whether it
// handled the pod: not while the framework is there, nor for a pod whose task never
// launched, which waits as it would have: Mesos ended nothing of it, and a cluster made
// again takes it.
func (r *PodReconciler) endOfRemovedFramework(ctx context.Context, pod *corev1.Pod, mt *mesosv1alpha1.MesosTask, haveTask bool, mc *mesosv1alpha1.MesosCluster) (res ctrl.Result, done bool, err error) {
	if !frameworkRemoved(mc, r.Registry) {
		return ctrl.Result{}, false, nil
	}
	if !haveTask {
		mt = nil
	}
	st := endedWithFramework(pod, mt, mc)
	if st == nil {
		return ctrl.Result{}, false, nil
	}
	pod = pod.DeepCopy() // the cache's own (Reconcile)
	if mt != nil && !podtask.EndedWithFrameworkStatus(&mt.Status) {
		mt.Status = *st
		podtask.StampGeneration(mt)
		// With the version read: an update the scheduler wrote meanwhile is read again.
		if err := r.Update(ctx, mt); err != nil {
			res, err := retryConflict(client.IgnoreNotFound(err))
			return res, true, err
		}
		ctrl.LoggerFrom(ctx).Info("Ended the task of a framework Mesos removed", "task", mt.Spec.TaskID, "framework", mc.Status.FrameworkID)
	}
	if !pod.DeletionTimestamp.IsZero() {
		res, err := r.removeEnded(ctx, pod, st)
		return res, true, err
	}
	if podtask.PodTerminal(pod) {
		return ctrl.Result{}, true, nil
	}
	res, err = retryConflict(r.failWithFramework(ctx, pod, st))
	return res, true, err
}

// endedWithFramework is the status the task of a pod ended with when Mesos removed its
// framework, nil when Mesos ended nothing of it: it never launched, or it ended before.
// mt is the pod's MesosTask, nil when none was written; a pod this cluster bound without
// one may run all the same (its binding records the launch). A pod someone else bound
// gets its MesosTask, not launched, on its first pass.
func endedWithFramework(pod *corev1.Pod, mt *mesosv1alpha1.MesosTask, mc *mesosv1alpha1.MesosCluster) *mesosv1alpha1.MesosTaskStatus {
	if mt == nil {
		if pod.Spec.NodeName == "" || pod.Spec.SchedulerName != mc.Spec.SchedulerName {
			return nil
		}
		if mt, _ = podtask.NewMesosTask(pod, mc, ""); mt == nil {
			return nil
		}
	}
	if podtask.EndedWithFrameworkStatus(&mt.Status) {
		return &mt.Status
	}
	if !podtask.MayRun(mt, pod) {
		return nil
	}
	st := podtask.EndedWithFramework(mt.Status, mc.Status.FrameworkID, metav1.Now())
	return &st
}

// failWithFramework writes the status of a pod whose task ended with its framework (st),
// and tells it in a Warning event on the pod.
func (r *PodReconciler) failWithFramework(ctx context.Context, pod *corev1.Pod, st *mesosv1alpha1.MesosTaskStatus) error {
	status := podtask.PodStatusFor(pod, st, nil)
	podtask.ObserveGeneration(pod, &status)
	pod.Status = status
	// With the version read: a status written meanwhile is read again.
	if err := r.Status().Update(ctx, pod); err != nil {
		return client.IgnoreNotFound(err)
	}
	ctrl.LoggerFrom(ctx).Info("Failed the pod: Mesos removed its framework and killed its task")
	if r.Recorder != nil {
		r.Recorder.Eventf(pod, nil, corev1.EventTypeWarning, podtask.ReasonFrameworkRemoved, "Kill", "%s", st.Message)
	}
	return nil
}
