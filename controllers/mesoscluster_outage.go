package controllers

import (
	"context"
	"math"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// outageTolerationSpec is what the outage tolerations policy (config/admission) gives a
// cluster's pods: tolerations of an unreachable or not-ready Node for the failover
// timeout, in whole seconds rounded up, as agentnode.OutageTolerations has the manager
// write them (rounded down, every pod the policy admitted would be one second short of
// what the manager asks, and the manager would write each again).
func outageTolerationSpec(mc *mesosv1alpha1.MesosCluster) mesosv1alpha1.OutageTolerationSpec {
	return mesosv1alpha1.OutageTolerationSpec{
		SchedulerName:     mc.Spec.SchedulerName,
		TolerationSeconds: int64(math.Ceil(failoverTimeout(mc).Seconds())),
	}
}

// ensureOutageToleration writes the cluster's OutageToleration, the policy's parameter,
// when it is missing or says something else than the cluster's spec. A failed write
// costs the pods nothing but a write each: without the policy's tolerations the Pod
// reconciler writes them (tolerateOutages).
func (r *MesosClusterReconciler) ensureOutageToleration(ctx context.Context, mc *mesosv1alpha1.MesosCluster) {
	if !r.outageTolerations {
		return
	}
	ot := &mesosv1alpha1.OutageToleration{ObjectMeta: metav1.ObjectMeta{Name: mc.Name}}
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, ot, func() error {
		ot.Spec = outageTolerationSpec(mc)
		if metav1.IsControlledBy(ot, mc) {
			return nil
		}
		// One left by an earlier cluster of the same name is taken over.
		ot.OwnerReferences = nil
		return controllerutil.SetControllerReference(mc, ot, r.Scheme())
	})
	if err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsConflict(err) {
		ctrl.LoggerFrom(ctx).Info("Could not write the cluster's OutageToleration; the manager writes its pods' outage tolerations itself", "error", err.Error())
	}
}

// removeOutageToleration removes the cluster's OutageToleration, so that the policy
// leaves the pods of its schedulerName to another cluster (or to none). The garbage
// collector would, once the cluster is gone; this is at once.
func (r *MesosClusterReconciler) removeOutageToleration(ctx context.Context, mc *mesosv1alpha1.MesosCluster) {
	if !r.outageTolerations {
		return
	}
	ot := &mesosv1alpha1.OutageToleration{}
	if err := r.Get(ctx, client.ObjectKey{Name: mc.Name}, ot); err != nil || !metav1.IsControlledBy(ot, mc) {
		return
	}
	if err := r.Delete(ctx, ot, client.Preconditions{UID: &ot.UID}); client.IgnoreNotFound(err) != nil {
		ctrl.LoggerFrom(ctx).Info("Could not remove the cluster's OutageToleration", "error", err.Error())
	}
}
