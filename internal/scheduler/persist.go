package scheduler

import (
	"context"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
)

// persist writes one update to the MesosTask and the pod. Updates of tasks no MesosTask
// owns are answered by killing the task.
func (s *Scheduler) persist(ctx context.Context, ts mesos.TaskStatus) error {
	owner, err := s.taskByID(ctx, ts.TaskID.Value)
	if err != nil {
		return err
	}
	if owner == nil {
		s.forgetLaunch(ts.TaskID.Value) // its MesosTask went before any update was written
		return s.killUnowned(ctx, ts)
	}
	mt, err := s.writeUpdate(ctx, client.ObjectKeyFromObject(owner), ts)
	if err != nil {
		return client.IgnoreNotFound(err)
	}
	s.forgetLaunch(ts.TaskID.Value)
	if podtask.RunsAfterEnd(&mt.Status, ts.GetState()) {
		return s.killEnded(ctx, mt, ts)
	}
	if mt.Status.Phase == mesosv1alpha1.TaskPhasePending {
		return s.notRun(ctx, mt)
	}
	return s.mirrorToPod(ctx, mt, ts)
}

// killUnowned kills a task that no MesosTask owns, unless it ended.
func (s *Scheduler) killUnowned(ctx context.Context, ts mesos.TaskStatus) error {
	d := s.currentDriver()
	if podtask.IsTerminal(ts.GetState()) || d == nil {
		return nil
	}
	s.Log.Info("Killing a task no MesosTask owns", "task", ts.TaskID.Value, "state", ts.GetState().String())
	agent := ""
	if ts.AgentID != nil {
		agent = ts.AgentID.Value
	}
	return d.Kill(ctx, ts.TaskID.Value, agent, nil)
}

// killEnded kills a task Mesos reports running after k8sm took it for ended.
func (s *Scheduler) killEnded(ctx context.Context, mt *mesosv1alpha1.MesosTask, ts mesos.TaskStatus) error {
	d := s.currentDriver()
	if d == nil {
		return nil
	}
	s.Log.Info("Killing a task Mesos reports running after it ended", "task", mt.Spec.TaskID, "phase", mt.Status.Phase, "state", ts.GetState().String())
	s.Recorder.Eventf(mt, nil, corev1.EventTypeWarning, "Killing", "Kill", "Killing task %s: Mesos reports it %s after it ended (%s)", mt.Spec.TaskID, ts.GetState(), mt.Status.Phase)
	agent := mt.Status.AgentID
	if ts.AgentID != nil && ts.AgentID.Value != "" {
		agent = ts.AgentID.Value
	}
	return d.Kill(ctx, mt.Spec.TaskID, agent, nil)
}

// writeUpdate applies an update to a MesosTask's status (podtask.ApplyUpdate) and writes
// it when that changed anything, reading again after a conflict.
func (s *Scheduler) writeUpdate(ctx context.Context, key types.NamespacedName, ts mesos.TaskStatus) (*mesosv1alpha1.MesosTask, error) {
	var mt *mesosv1alpha1.MesosTask
	attempt := 0
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		mt = &mesosv1alpha1.MesosTask{}
		if err := s.reader(attempt).Get(ctx, key, mt); err != nil {
			return err
		}
		attempt++
		changed := podtask.ApplyUpdate(&mt.Status, ts, metav1.Now())
		if podtask.Launched(mt.Status.Phase) && s.fillLaunch(ctx, mt) {
			changed = true
		}
		if !changed {
			return nil
		}
		return s.Client.Status().Update(ctx, mt)
	})
	return mt, err
}

// notRun handles a task Mesos never ran: back to the queue, or, if its pod is being
// deleted, the pod goes at once, as for a pod never launched.
func (s *Scheduler) notRun(ctx context.Context, mt *mesosv1alpha1.MesosTask) error {
	pod := &corev1.Pod{}
	if err := s.Client.Get(ctx, client.ObjectKeyFromObject(mt), pod); err != nil || pod.UID != types.UID(mt.Spec.PodUID) {
		return nil
	}
	if pod.DeletionTimestamp.IsZero() {
		s.Enqueue(ctx, mt, pod)
		return nil
	}
	return client.IgnoreNotFound(RemovePod(ctx, s.Client, pod))
}

// fillLaunch fills in where and when a launched task was launched, if its status does not
// say: from what this process knows, or, for a launch of an earlier process (recorded only
// by the binding), from the Node the pod is bound to. It says whether it changed anything.
func (s *Scheduler) fillLaunch(ctx context.Context, mt *mesosv1alpha1.MesosTask) bool {
	if podtask.LaunchFilled(&mt.Status) {
		return false
	}
	l, ok := s.launchOf(mt.Spec.TaskID)
	if !ok {
		l = podtask.Launch{At: metav1.Now()}
		pod := &corev1.Pod{}
		if s.Client.Get(ctx, client.ObjectKeyFromObject(mt), pod) == nil && pod.Spec.NodeName != "" {
			l.AgentID, l.Hostname = s.agentOfNode(ctx, pod.Spec.NodeName)
		}
	}
	return podtask.FillLaunch(&mt.Status, l, mt.Generation)
}

// mirrorToPod writes the pod status the MesosTask implies, and removes a pod whose task
// ended after its deletion was asked, as a kubelet would.
func (s *Scheduler) mirrorToPod(ctx context.Context, mt *mesosv1alpha1.MesosTask, ts mesos.TaskStatus) error {
	if !podtask.MirrorToPod(&mt.Status, ts.Data) {
		return nil
	}
	attempt := 0
	// The status is written with Update: it carries the version it was computed from, so
	// another writer of the pod's status (NodeLost after the unreachable timeout) is never
	// overwritten from a stale read, and a pod goes as protobuf, which costs the API
	// server less than a JSON merge patch (no patch to apply, no JSON to decode).
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod := &corev1.Pod{}
		if err := s.reader(attempt).Get(ctx, client.ObjectKeyFromObject(mt), pod); err != nil {
			return err
		}
		attempt++
		if pod.UID != types.UID(mt.Spec.PodUID) {
			return nil
		}
		if !pod.DeletionTimestamp.IsZero() && podtask.IsTerminalPhase(mt.Status.Phase) {
			if err := RemovePod(ctx, s.Client, pod); err != nil {
				return err
			}
			s.Recorder.Eventf(pod, mt, corev1.EventTypeNormal, "Killed", "Kill", "Task %s ended (%s) after the pod's deletion; the pod is removed", mt.Spec.TaskID, mt.Status.MesosState)
			return nil
		}
		return s.writePodStatus(ctx, pod, mt, ts.Data)
	})
	return client.IgnoreNotFound(err)
}

// writePodStatus writes the pod status a MesosTask implies when a person would see a
// change, and tells of a new phase, and of resource limits the executor does not
// enforce, in events.
func (s *Scheduler) writePodStatus(ctx context.Context, pod *corev1.Pod, mt *mesosv1alpha1.MesosTask, data []byte) error {
	desired := podtask.PodStatusFor(pod, &mt.Status, data)
	if !podtask.PodStatusChanged(&pod.Status, &desired) {
		return nil
	}
	before := pod.Status
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

// reader is where an attempt to write reads the object: the cache first, then, after a
// conflict (the cache was behind the write before), the API server.
func (s *Scheduler) reader(attempt int) client.Reader {
	if attempt > 0 && s.APIReader != nil {
		return s.APIReader
	}
	return s.Client
}

// relaunch puts a task whose launch did not happen back to Pending.
func (s *Scheduler) relaunch(ctx context.Context, key types.NamespacedName) {
	attempt := 0
	_ = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		mt := &mesosv1alpha1.MesosTask{}
		if err := s.reader(attempt).Get(ctx, key, mt); err != nil {
			return client.IgnoreNotFound(err)
		}
		attempt++
		podtask.SetNotLaunched(&mt.Status)
		return s.Client.Status().Update(ctx, mt)
	})
}

// failTask records a task that cannot be launched at all (its pod cannot be translated).
func (s *Scheduler) failTask(ctx context.Context, key types.NamespacedName, err error) {
	s.Log.Info("Cannot launch the pod", "pod", key.String(), "error", err.Error())
	mt := &mesosv1alpha1.MesosTask{}
	if getErr := s.Client.Get(ctx, key, mt); getErr != nil {
		return
	}
	s.Dequeue(mt.Spec.TaskID)
	before := mt.DeepCopy()
	podtask.SetInvalid(&mt.Status, err)
	if s.Client.Status().Patch(ctx, mt, client.MergeFrom(before)) == nil {
		_ = s.mirrorToPod(ctx, mt, mesos.TaskStatus{}) // the pod fails with the same words
	}
}

// markUnschedulable tells the MesosTask and the pod why no offer fits, when that changed.
func (s *Scheduler) markUnschedulable(ctx context.Context, key types.NamespacedName, why string) {
	mt := &mesosv1alpha1.MesosTask{}
	if err := s.Client.Get(ctx, key, mt); err != nil || podtask.Launched(mt.Status.Phase) {
		return
	}
	before := mt.DeepCopy()
	if !podtask.SetUnschedulable(&mt.Status, why, mt.Generation) {
		return
	}
	if err := s.Client.Status().Patch(ctx, mt, client.MergeFrom(before)); err != nil {
		return
	}
	pod := &corev1.Pod{}
	if err := s.Client.Get(ctx, key, pod); err != nil {
		return
	}
	if pod.Spec.NodeName != "" {
		// Bound before it was taken: it is scheduled, and waits for its agent's offer.
		s.Recorder.Eventf(pod, nil, corev1.EventTypeWarning, "WaitingForOffer", "Launch", "%s", why)
		return
	}
	podBefore := pod.DeepCopy()
	podtask.SetPodUnschedulable(&pod.Status, why)
	if !equality.Semantic.DeepEqual(podBefore.Status, pod.Status) {
		if err := s.Client.Status().Patch(ctx, pod, client.MergeFrom(podBefore)); err == nil {
			s.Recorder.Eventf(pod, nil, corev1.EventTypeWarning, "FailedScheduling", "Scheduling", "%s", why)
		}
	}
}

// RemovePod deletes a pod at once, as a kubelet does once its containers are gone: grace
// 0, and only this pod (by UID), never a newer one of the same name.
func RemovePod(ctx context.Context, c client.Writer, pod *corev1.Pod) error {
	return c.Delete(ctx, pod, client.GracePeriodSeconds(0), client.Preconditions{UID: &pod.UID})
}
