package scheduler

// What an update, or a pod waiting to be placed, writes on the pod: its status, as a
// kubelet would, and its removal once its task ended after its deletion.

import (
	"context"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
)

// mirrorToPod writes the pod status the MesosTask implies, and removes a pod whose task
// ended after its deletion was asked, as a kubelet would: with its terminal status
// (RemoveEndedPod). The Pod reconciler may remove that pod first (it sees the MesosTask
// written): the pod is told in an event here either way.
func (s *Scheduler) mirrorToPod(ctx context.Context, mt *mesosv1alpha1.MesosTask, ts mesos.TaskStatus) error {
	attempt := 0
	var removing *corev1.Pod
	// The status is written with Update: it carries the version it was computed from, so
	// another writer of the pod's status (NodeLost after the unreachable timeout) is never
	// overwritten from a stale read, and a pod goes as protobuf, which costs the API
	// server less than a JSON merge patch (no patch to apply, no JSON to decode).
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		// The cache's own pod, to read only: most updates change nothing a person sees
		// (a new leader's reconciliation, every one), and a pod is copied to be written.
		pod := &corev1.Pod{}
		if err := s.reader(attempt).Get(ctx, client.ObjectKeyFromObject(mt), pod, client.UnsafeDisableDeepCopy); err != nil {
			return err
		}
		attempt++
		if pod.UID != types.UID(mt.Spec.PodUID) || !podtask.MirrorToPod(pod, &mt.Status, ts.Data) {
			return nil
		}
		if !pod.DeletionTimestamp.IsZero() && podtask.IsTerminalPhase(mt.Status.Phase) {
			removing = pod
			return RemoveEndedPod(ctx, s.Client, pod.DeepCopy(), podtask.FinalPodStatus(pod, &mt.Status, ts.Data))
		}
		return s.writePodStatus(ctx, pod, mt, ts.Data)
	})
	if removing != nil && (err == nil || apierrors.IsNotFound(err)) {
		if ev, ok := podtask.RemovedEvent(mt); ok {
			s.Recorder.Eventf(removing, mt, ev.Type, ev.Reason, ev.Action, "%s", ev.Message)
		}
	}
	return client.IgnoreNotFound(err)
}

// writePodStatus writes the pod status a MesosTask implies when a person would see a
// change, and tells of a new phase, and of resource limits the executor does not
// enforce, in events. The pod is read only: what is written is a copy.
func (s *Scheduler) writePodStatus(ctx context.Context, read *corev1.Pod, mt *mesosv1alpha1.MesosTask, data []byte) error {
	desired := podtask.PodStatusFor(read, &mt.Status, data)
	podtask.ObserveGeneration(read, &desired)
	if !podtask.PodStatusChanged(&read.Status, &desired) {
		return nil
	}
	before := read.Status
	pod := read.DeepCopy()
	pod.Status = desired
	if err := s.Client.Status().Update(ctx, pod); err != nil {
		return err
	}
	if before.Phase != pod.Status.Phase {
		if ev, ok := podtask.PodPhaseEvent(pod.Status.Phase, mt); ok {
			s.Recorder.Eventf(pod, mt, ev.Type, ev.Reason, ev.Action, "%s", ev.Message)
		}
	}
	if ev, ok := podtask.ResourceLimitsEvent(&before, &pod.Status); ok {
		s.Recorder.Eventf(pod, mt, ev.Type, ev.Reason, ev.Action, "%s", ev.Message)
	}
	return nil
}

// WritePodUnschedulable writes PodScheduled=False/Unschedulable with why on a pod (a
// copy, which it changes) that waits for an offer that fits, and records kube-scheduler's
// FailedScheduling event, only when that changes the pod's status.
func WritePodUnschedulable(ctx context.Context, c client.Client, rec events.EventRecorder, pod *corev1.Pod, why string) error {
	_, err := WritePodNotScheduled(ctx, c, rec, pod, func(ps *corev1.PodStatus) { podtask.SetPodUnschedulable(ps, why) }, "FailedScheduling", why)
	return err
}

// WritePodNotScheduled writes what set makes of a waiting pod's status (a PodScheduled=False
// condition) on the pod (a copy, which it changes), and records a warning event with
// eventReason and why, only when that changes the pod's status; wrote says whether it did.
// The write carries the pod's version: a conflict is the caller's to try again.
func WritePodNotScheduled(ctx context.Context, c client.Client, rec events.EventRecorder, pod *corev1.Pod, set func(*corev1.PodStatus), eventReason, why string) (wrote bool, err error) {
	before := pod.DeepCopy()
	set(&pod.Status)
	podtask.ObserveGeneration(pod, &pod.Status)
	if !podtask.PodStatusChanged(&before.Status, &pod.Status) {
		return false, nil
	}
	if err := c.Status().Patch(ctx, pod, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	if rec != nil {
		rec.Eventf(pod, nil, corev1.EventTypeWarning, eventReason, "Scheduling", "%s", why)
	}
	return true, nil
}

// removePod deletes a pod at once, as a kubelet does once its containers are gone: grace
// 0, and only this pod (by UID), never a newer one of the same name.
func removePod(ctx context.Context, c client.Writer, pod *corev1.Pod) error {
	return c.Delete(ctx, pod, client.GracePeriodSeconds(0), client.Preconditions{UID: &pod.UID})
}

// RemoveEndedPod removes a deleted pod whose task is over as a kubelet does: it writes
// the pod's final status first (podtask.FinalPodStatus), where that changes anything, and
// then deletes the pod (removePod). A pod's owners learn how it ended from its phase: a
// Job with podReplacementPolicy Failed keeps its finalizer, and the pod Terminating,
// until the pod is Failed. The status goes with Update, from the version of pod, which
// takes it: a conflict means another writer came first, and the caller reads again.
func RemoveEndedPod(ctx context.Context, c client.Client, pod *corev1.Pod, final corev1.PodStatus) error {
	podtask.ObserveGeneration(pod, &final)
	if podtask.PodStatusChanged(&pod.Status, &final) {
		pod.Status = final
		if err := c.Status().Update(ctx, pod); err != nil {
			return err
		}
	}
	return removePod(ctx, c, pod)
}
