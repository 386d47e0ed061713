package controllers

import (
	corev1 "k8s.io/api/core/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
)

// unapplied writes into st, the status of a pod whose task was launched, what of the
// pod's spec its task does not run (podtask.MarkUnapplied: a resize, ephemeral
// containers), instead of its status only saying it observed the new generation. It
// returns the warnings to record once the status is written, and whether st changed.
func unapplied(pod *corev1.Pod, mt *mesosv1alpha1.MesosTask, st *corev1.PodStatus) ([]podtask.Event, bool) {
	if !podtask.Launched(mt.Status.Phase) || podtask.IsTerminalPhase(mt.Status.Phase) {
		// Told once its task runs, as a kubelet tells once it admitted the pod.
		return nil, false
	}
	return podtask.MarkUnapplied(pod, mt.Spec.Resources, st)
}

// warn records warnings on a pod.
func (r *PodReconciler) warn(pod *corev1.Pod, mt *mesosv1alpha1.MesosTask, warnings []podtask.Event) {
	if r.Recorder == nil {
		return
	}
	for _, ev := range warnings {
		r.Recorder.Eventf(pod, mt, ev.Type, ev.Reason, ev.Action, "%s", ev.Message)
	}
}
