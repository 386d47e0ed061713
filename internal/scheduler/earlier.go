package scheduler

import (
	"context"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/podtask"
)

// taskLister is a Driver that can ask the master for the tasks it holds
// (framework.Connection.GetTasks).
type taskLister interface {
	GetTasks(ctx context.Context) ([]framework.MasterTask, error)
}

// learnEarlierTasks asks the master, after a subscription, for the cluster's tasks it
// holds, and records each that may run and whose pod is gone while nothing records it:
// a pod removed (force-deleted, say) while no manager led, whose MesosTask, held in
// memory, went with the last leader; or a burst's deferred create lost with its manager.
// Such a task is no pod's, and Mesos's reports on it are answered with a KILL, but
// nothing held its pod's name: a StatefulSet's pod made again under it would be launched
// at once, and run beside the earlier one. Each is recorded as the MesosTask of a pod
// deleted: written, then deleted, so that its finalizer has the task killed, and a pod
// of that name waits for it (PodReconciler.awaitEarlierTask, launchable), as it would
// had the MesosTask been kept. Offer rounds wait for this, with the executors
// (awaitExecutors), for at most executorsWait.
func (s *Scheduler) learnEarlierTasks(ctx context.Context, d Driver) {
	l, ok := d.(taskLister)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, executorsWait)
	defer cancel()
	list, err := l.GetTasks(ctx)
	if err != nil {
		s.Log.Info("Could not list the tasks Mesos holds; the task of a pod removed while no manager led is killed when Mesos reports it, and a pod made again under its name is not held back meanwhile",
			"error", err.Error())
		return
	}
	fw := d.FrameworkID()
	for i := range list {
		t := &list[i]
		if t.FrameworkID != fw || podtask.IsTerminal(t.State) {
			continue
		}
		ref, ok := podtask.PodRefFromLabels(t.Labels)
		if !ok || s.recordsTask(ctx, t.TaskID, ref) {
			continue
		}
		s.recordEarlier(ctx, t, ref)
	}
}

// recordsTask says whether something records a task already: its MesosTask, its pod
// (bound, or being deleted), or this process's launch of it. One it cannot tell of
// counts as recorded: it is killed when Mesos reports it, as before.
func (s *Scheduler) recordsTask(ctx context.Context, taskID string, ref podtask.PodRef) bool {
	if mt, err := s.taskByID(ctx, taskID); err != nil || mt != nil {
		return true
	}
	if _, ok := s.launchedPod(taskID); ok {
		return true
	}
	pod := &corev1.Pod{}
	err := s.Client.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, pod, client.UnsafeDisableDeepCopy)
	return (err == nil && pod.UID == ref.UID) || (err != nil && !apierrors.IsNotFound(err))
}

// recordEarlier writes the MesosTask of a task whose pod is gone (podtask.EarlierTask)
// and deletes it, then waits until the cache shows it, so that no offer round launches a
// pod of that name meanwhile. A MesosTask of that name held by another pod's task is
// left alone: the earlier task is killed when Mesos reports it.
func (s *Scheduler) recordEarlier(ctx context.Context, t *framework.MasterTask, ref podtask.PodRef) {
	latest := mesos.TaskStatus{TaskID: mesos.TaskID{Value: t.TaskID}}
	if t.Latest != nil {
		latest = *t.Latest
	}
	state := t.State
	latest.State = &state
	if latest.AgentID == nil {
		latest.AgentID = &mesos.AgentID{Value: t.AgentID}
	}
	if latest.ExecutorID == nil && t.ExecutorID != "" {
		latest.ExecutorID = &mesos.ExecutorID{Value: t.ExecutorID}
	}
	mt := podtask.EarlierTask(ref, s.clusterName(), t.TaskID, t.ExecutorID, latest, metav1.Now())
	podtask.StampGeneration(mt)
	log := s.Log.WithValues("task", t.TaskID, "pod", types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}.String())
	if err := s.Client.Create(ctx, mt); err != nil {
		log.Info("Could not record the task of a pod that is gone; it is killed when Mesos reports it", "error", err.Error())
		return
	}
	log.Info("Recorded the task of a pod that is gone, to kill it before a pod of its name runs", "state", t.State.String())
	if err := s.Client.Delete(ctx, mt, client.Preconditions{UID: &mt.UID}); client.IgnoreNotFound(err) != nil {
		log.Info("Could not delete the record of the task of a pod that is gone; it is deleted as its pod's absence is noticed", "error", err.Error())
	}
	key := client.ObjectKeyFromObject(mt)
	_ = wait.PollUntilContextCancel(ctx, 10*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		cached := &mesosv1alpha1.MesosTask{}
		err := s.Client.Get(ctx, key, cached, client.UnsafeDisableDeepCopy)
		return err == nil && cached.UID == mt.UID || (err != nil && !apierrors.IsNotFound(err)), nil
	})
}
