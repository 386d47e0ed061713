package controllers

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
)

// teardownRetry is how soon a deleted cluster whose teardown waits for its framework to
// subscribe is looked at again.
const teardownRetry = 2 * time.Second

// teardownPending writes the status of a deleted cluster whose framework id needs a
// TEARDOWN and whose driver d (nil when none runs) is not subscribed, and connects the
// framework so that the teardown can be sent. The status says what blocks it: the
// cluster's own config (a Secret, the master URL), which a person must fix, or Mesos,
// which refuses the framework or is not reached; Subscribed and Ready say what the
// driver says now, not what a pass before the deletion saw.
func (r *MesosClusterReconciler) teardownPending(ctx context.Context, mc *mesosv1alpha1.MesosCluster, id string, d *framework.Driver) (ctrl.Result, error) {
	status := mc.Status.DeepCopy()
	status.ObservedGeneration = mc.Generation
	if d == nil {
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
