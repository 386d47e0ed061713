package controllers

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/indexer"
)

// teardownRetry is how soon a deleted cluster whose teardown waits for its framework to
// subscribe is looked at again.
const teardownRetry = 2 * time.Second

// teardownPending writes the status of a deleted cluster whose framework id needs a
// TEARDOWN and whose driver d (nil when none runs) is not subscribed, and connects the
// framework, with the cluster's config of now, so that the teardown can be sent. The status says what blocks it: the
// cluster's own config (a Secret, the master URL), which a person must fix, or Mesos,
// which refuses the framework or is not reached; Subscribed and Ready say what the
// driver says now, not what a pass before the deletion saw.
func (r *MesosClusterReconciler) teardownPending(ctx context.Context, mc *mesosv1alpha1.MesosCluster, id string, d *framework.Driver) (ctrl.Result, error) {
	status := mc.Status.DeepCopy()
	status.ObservedGeneration = mc.Generation
	// The cluster's config of now, every pass: the fix the status asks for (the master
	// URL, the principal put back, a Secret) restarts the driver with it, the framework id
	// kept (ensureDriver); an unchanged config keeps the driver that runs.
	cfg, reason, err := r.driverConfig(ctx, mc)
	if err == nil {
		reason = ReasonInvalidMaster
		d, err = r.ensureDriver(mc, cfg)
	}
	if err != nil {
		// Nothing changes until a person does: a spec change wakes the cluster, a
		// Secret is read again at the next resync.
		r.setBroken(mc, status, reason, err.Error())
		setCondition(status, mc.Generation, mesosv1alpha1.ConditionDegraded, true, ReasonTeardownPending, fmt.Sprintf(
			"Cannot tear framework %s down: %s. Fix that, or set deletionPolicy: Orphan to let the cluster go without a teardown (its tasks then run on until Mesos's failover timeout)", id, err))
		ctrl.LoggerFrom(ctx).Info("Cannot tear the framework down", "frameworkID", id, "reason", reason, "message", err.Error())
		return ctrl.Result{RequeueAfter: statusResync}, r.writeStatus(ctx, mc, status)
	}
	s := d.Status()
	r.statusFromDriver(mc, status, s)
	ready := meta.FindStatusCondition(status.Conditions, mesosv1alpha1.ConditionReady)
	blocker := "Waiting to reach the master to tear framework " + id + " down"
	if s.Refused != "" {
		blocker = "Cannot tear framework " + id + " down: Mesos refuses it"
	}
	setCondition(status, mc.Generation, mesosv1alpha1.ConditionDegraded, true, ReasonTeardownPending, fmt.Sprintf(
		"%s (%s: %s); set deletionPolicy: Orphan to let the cluster go without a teardown", blocker, ready.Reason, ready.Message))
	return ctrl.Result{RequeueAfter: teardownRetry}, r.writeStatus(ctx, mc, status)
}

// releaseTasks takes the task finalizer off the MesosTasks of a deleted cluster whose
// framework is torn down or left to Mesos: nothing can kill their tasks any more (as for
// a deleted MesosTask of a gone cluster, see MesosTaskReconciler.finalize). It is done
// before the cluster goes, so that once `kubectl wait --for=delete mesosclusters`
// returns no MesosTask waits for a manager, which an uninstall removes with the CRDs.
// The MesosTask reconciler does not add the finalizer back to the tasks of a cluster
// being deleted, and takes it off those written after this, once the cluster is gone.
func (r *MesosClusterReconciler) releaseTasks(ctx context.Context, mc *mesosv1alpha1.MesosCluster) error {
	var list mesosv1alpha1.MesosTaskList
	if err := r.List(ctx, &list, client.MatchingFields{indexer.ClusterRef: mc.Name}); err != nil {
		return err
	}
	released := 0
	for i := range list.Items {
		mt := &list.Items[i]
		if !controllerutil.ContainsFinalizer(mt, TaskFinalizer) {
			continue
		}
		if err := r.releaseTask(ctx, mt); err != nil {
			return fmt.Errorf("letting go of MesosTask %s/%s: %w", mt.Namespace, mt.Name, err)
		}
		released++
	}
	if released > 0 {
		ctrl.LoggerFrom(ctx).Info("Let go of the deleted cluster's MesosTasks", "count", released)
	}
	return nil
}

// releaseTask takes the task finalizer off mt. A conflict (the scheduler writing the
// teardown's last task states) is tried again on the stored version, read past the
// cache: failing the pass would send the teardown again.
func (r *MesosClusterReconciler) releaseTask(ctx context.Context, mt *mesosv1alpha1.MesosTask) error {
	read := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if read {
			if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(mt), mt); err != nil {
				return err
			}
		}
		read = true
		if !controllerutil.RemoveFinalizer(mt, TaskFinalizer) {
			return nil
		}
		return r.Update(ctx, mt)
	})
	return client.IgnoreNotFound(err)
}
