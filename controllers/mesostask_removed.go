package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
)

// endIfFrameworkRemoved ends the task of a deleted MesosTask that may run once Mesos
// removed its cluster's framework (frameworkRemoved): Mesos killed the task with the
// framework and will report nothing of it, and no KILL can be sent, so finalize would
// wait for ever. The MesosTask turns Gone (podtask.EndedWithFramework), written to mt,
// and finalize lets it go, as it lets go of the task of a cluster that is gone.
func (r *MesosTaskReconciler) endIfFrameworkRemoved(ctx context.Context, mt *mesosv1alpha1.MesosTask) error {
	if !controllerutil.ContainsFinalizer(mt, TaskFinalizer) {
		return nil
	}
	mc := &mesosv1alpha1.MesosCluster{}
	if err := r.Get(ctx, client.ObjectKey{Name: mt.Spec.ClusterRef}, mc, client.UnsafeDisableDeepCopy); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !frameworkRemoved(mc, r.Registry) {
		return nil
	}
	pod := &corev1.Pod{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(mt), pod, client.UnsafeDisableDeepCopy); apierrors.IsNotFound(err) {
		pod = nil
	} else if err != nil {
		return err
	}
	if !podtask.MayRun(mt, pod) {
		return nil
	}
	mt.Status = podtask.EndedWithFramework(mt.Status, mc.Status.FrameworkID, metav1.Now())
	podtask.StampGeneration(mt)
	// With the version read: an update the scheduler wrote meanwhile is read again.
	if err := r.Update(ctx, mt); err != nil {
		return err
	}
	ctrl.LoggerFrom(ctx).Info("Released the task of a framework Mesos removed", "task", mt.Spec.TaskID, "framework", mc.Status.FrameworkID)
	if r.Recorder != nil {
		r.Recorder.Eventf(mt, nil, corev1.EventTypeNormal, "Released", "Release", "Task %s ended with its framework: %s", mt.Spec.TaskID, mt.Status.Message)
	}
	return nil
}
