package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
)

// How long the scheduler has to write a terminal update to the pod itself before the
// pod is made to say what its MesosTask says (tellPodOfEnd). The master's updates
// (no uuid) are written at once, and again in memory for a while after a failed write.
// An agent's are sent again until the scheduler acknowledges them, which it does only
// once the pod is written, at most every 10 minutes (Mesos's
// STATUS_UPDATE_RETRY_INTERVAL_MAX): the scheduler's write carries the executor's last
// data (exit codes, which a Job's podFailurePolicy reads), so it is waited for.
const (
	masterUpdateSettle = 30 * time.Second
	agentUpdateSettle  = 11 * time.Minute
)

// tellPodOfEnd gives a pod whose task ended the status its MesosTask implies, once the
// scheduler had time to write it itself (endSettle). The scheduler writes the MesosTask
// first and the pod second; a manager that stopped between the two (a rollout, lost
// leadership) left the pod Running and Ready for good: the master sends its updates
// once (an agent removed: TASK_GONE_BY_OPERATOR), and a terminal task is never
// reconciled again. The write carries the version read, so it never lands over a newer
// status; a pod that ended meanwhile is left as it ended (podtask.PodStatusFor).
func (r *MesosTaskReconciler) tellPodOfEnd(ctx context.Context, mt *mesosv1alpha1.MesosTask, cached *corev1.Pod) (ctrl.Result, error) {
	if wait := endSettle(&mt.Status) - time.Since(lastUpdate(&mt.Status)); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	pod := cached.DeepCopy()
	desired := podtask.PodStatusFor(pod, &mt.Status, nil)
	podtask.ObserveGeneration(pod, &desired)
	if !podtask.PodStatusChanged(&pod.Status, &desired) {
		return ctrl.Result{}, nil
	}
	pod.Status = desired
	if err := r.Status().Update(ctx, pod); err != nil {
		return retryConflict(client.IgnoreNotFound(err))
	}
	ctrl.LoggerFrom(ctx).Info("Wrote the status of a pod whose task ended, which the pod did not say", "task", mt.Spec.TaskID,
		"state", mt.Status.MesosState, "phase", pod.Status.Phase)
	if ev, ok := podtask.PodPhaseEvent(pod.Status.Phase, mt); ok && r.Recorder != nil {
		r.Recorder.Eventf(pod, mt, ev.Type, ev.Reason, ev.Action, "%s", ev.Message)
	}
	return ctrl.Result{}, nil
}

// endSettle is how long the scheduler is left to write a terminal update to the pod:
// longer for an update the agent sends again until it is acknowledged; none for an end
// the operator wrote itself, Mesos having said nothing (a Node deleted before the task
// ran there), which no one else writes to the pod.
func endSettle(st *mesosv1alpha1.MesosTaskStatus) time.Duration {
	switch {
	case podtask.EndedWithoutMesos(st):
		return 0
	case fromAgent(st):
		return agentUpdateSettle
	}
	return masterUpdateSettle
}

// fromAgent says whether a MesosTask's last update is one the agent sends again until
// it is acknowledged: the agent's or the executor's, which carries the executor's data.
func fromAgent(st *mesosv1alpha1.MesosTaskStatus) bool {
	return !podtask.EndedWithoutMesos(st) && (st.Source == "SOURCE_AGENT" || st.Source == "SOURCE_EXECUTOR")
}

// deletedEndSettle is how long a deleted pod whose task ended, by an update of its agent,
// is left for the scheduler to remove with that update's data (its containers' exit
// codes: a pod whose containers exited 0 as they were stopped is Succeeded) before the
// Pod reconciler removes it with what the pod last said. The scheduler writes the
// MesosTask first, which brings that pass, and removes the pod right after.
const deletedEndSettle = 5 * time.Second

// lastUpdate is when a MesosTask's status was last written; the zero time when it does
// not say.
func lastUpdate(st *mesosv1alpha1.MesosTaskStatus) time.Time {
	switch {
	case st.LastUpdateTime != nil:
		return st.LastUpdateTime.Time
	case st.FinishedAt != nil:
		return st.FinishedAt.Time
	}
	return time.Time{}
}
