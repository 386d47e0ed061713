package controllers

import (
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/podtask"
	"github.com/k8sm/k8sm/internal/scheduler"
	"github.com/k8sm/k8sm/internal/taskstore"
)

// TaskFinalizer keeps a MesosTask until its Mesos task is over or known gone.
const TaskFinalizer = podtask.TaskFinalizer

// MesosTaskReconciler owns a MesosTask's life around the scheduler: its finalizer (a
// deleted task is kept until Mesos has killed it), its place in its cluster's queue, the
// kill of a task whose pod ended, and NodeLost for a pod whose agent stayed unreachable.
// It deletes a MesosTask whose pod went.
type MesosTaskReconciler struct {
	client.Client
	// Registry holds the clusters' drivers and schedulers. Required.
	Registry *scheduler.Registry
	// Store holds the MesosTasks, whose changes start passes. Required.
	Store *taskstore.Store
	// Recorder records events for people; optional.
	Recorder events.EventRecorder
	// UnreachableTimeout is how long a task may stay unreachable before its pod is
	// Failed with reason NodeLost. Default 5m.
	UnreachableTimeout time.Duration

	// killsTold holds the ids of the tasks killed for a pod that ended whose kill was
	// told (an event), so that KILL sent again until the task ends is not told again.
	// An id goes once its MesosTask ends or goes.
	killsTold sync.Map
	// deletedNodes holds the names of the Nodes seen deleted and not made again since
	// (nodeGone, nodeDeleted).
	deletedNodes sync.Map
}

// Reconcile handles one MesosTask.
func (r *MesosTaskReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	mt := &mesosv1alpha1.MesosTask{}
	if err := r.Get(ctx, req.NamespacedName, mt); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	sched := r.Registry.Scheduler(mt.Spec.ClusterRef)

	if !mt.DeletionTimestamp.IsZero() {
		if err := r.endIfFrameworkRemoved(ctx, mt); err != nil {
			return retryConflict(client.IgnoreNotFound(err))
		}
		return r.finalize(ctx, mt, sched)
	}
	if err := r.holdFinalizer(ctx, mt); err != nil {
		return ctrl.Result{}, err
	}
	// The cache's own pod, to read only (unreachable copies it to write): every update a
	// task's MesosTask gets brings a pass here, and most write nothing.
	pod := &corev1.Pod{}
	if err := r.Get(ctx, req.NamespacedName, pod, client.UnsafeDisableDeepCopy); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	} else if apierrors.IsNotFound(err) || pod.UID != types.UID(mt.Spec.PodUID) {
		// The pod is gone: so is its task (the finalizer kills it first if it runs).
		if sched != nil {
			sched.Dequeue(mt.Spec.TaskID)
		}
		return ctrl.Result{}, client.IgnoreNotFound(r.Delete(ctx, mt))
	}
	if pod.DeletionTimestamp.IsZero() && podtask.MirrorEndedPod(&mt.Status, pod) {
		// The pod ended apart from its task (NodeLost, say): its MesosTask says so. A
		// deleted pod is removed once it ended, and its MesosTask goes with it.
		podtask.StampGeneration(mt)
		if err := r.Update(ctx, mt); err != nil {
			return retryConflict(err)
		}
	}
	if mt.Status.Phase == mesosv1alpha1.TaskPhaseUnreachable {
		return r.unreachable(ctx, mt, pod)
	}
	if podtask.MustKillForEndedPod(mt, pod) {
		result, sent := r.killTask(ctx, mt)
		if !sent {
			return result, nil
		}
		if _, told := r.killsTold.LoadOrStore(mt.Spec.TaskID, struct{}{}); told {
			ctrl.LoggerFrom(ctx).V(1).Info("Killing the task of a pod that ended again", "task", mt.Spec.TaskID, "agent", mt.Status.Hostname)
			return result, nil
		}
		ctrl.LoggerFrom(ctx).Info("Killing the task of a pod that ended", "task", mt.Spec.TaskID, "agent", mt.Status.Hostname)
		if r.Recorder != nil {
			r.Recorder.Eventf(mt, nil, corev1.EventTypeWarning, "Killing", "Kill", "Killing task %s: its pod ended while the agent was unreachable", mt.Spec.TaskID)
		}
		return result, nil
	}
	if podtask.IsTerminalPhase(mt.Status.Phase) {
		r.killsTold.Delete(mt.Spec.TaskID)
		if pod.DeletionTimestamp.IsZero() && !podtask.PodTerminal(pod) {
			// A deleted pod is the Pod reconciler's to remove with its final status.
			return r.tellPodOfEnd(ctx, mt, pod)
		}
	}
	if sched == nil || podtask.Launched(mt.Status.Phase) || podtask.BoundUnrecorded(mt, pod) {
		// Launched, or maybe launched: the scheduler's reconciliation asks Mesos.
		return ctrl.Result{}, nil
	}
	if !pod.DeletionTimestamp.IsZero() {
		sched.Dequeue(mt.Spec.TaskID)
		return ctrl.Result{}, nil
	}
	if ok, err := r.takes(ctx, mt.Spec.ClusterRef, pod); err != nil || !ok {
		sched.Dequeue(mt.Spec.TaskID)
		return ctrl.Result{}, err
	}
	if pod.Spec.NodeName != "" {
		gone, err := r.nodeDeleted(ctx, pod.Spec.NodeName)
		if err != nil {
			return ctrl.Result{}, err
		}
		if gone {
			return r.endOnDeletedNode(ctx, mt, pod, sched)
		}
	}
	sched.Enqueue(ctx, mt, pod)
	return ctrl.Result{}, nil
}

// holdFinalizer keeps the task finalizer on a MesosTask while its cluster can kill its
// task: it is added (back) while the cluster runs, and taken off once the cluster is gone,
// its framework torn down or left to Mesos. Nothing can kill the task then, and the
// finalizer would keep the MesosTask (and, on an uninstall, the mesostasks CRD)
// Terminating for ever. While the cluster is being deleted the finalizer is left as it
// is: the cluster lets its tasks go once its framework is torn down or left, and must
// not see them taken back.
func (r *MesosTaskReconciler) holdFinalizer(ctx context.Context, mt *mesosv1alpha1.MesosTask) error {
	mc := &mesosv1alpha1.MesosCluster{}
	err := r.Get(ctx, client.ObjectKey{Name: mt.Spec.ClusterRef}, mc, client.UnsafeDisableDeepCopy)
	gone := apierrors.IsNotFound(err)
	if err != nil && !gone {
		return err
	}
	switch {
	case gone:
		if !controllerutil.RemoveFinalizer(mt, TaskFinalizer) {
			return nil
		}
		ctrl.LoggerFrom(ctx).Info("Letting go of the task of a deleted MesosCluster", "task", mt.Spec.TaskID, "cluster", mt.Spec.ClusterRef)
	case !mc.DeletionTimestamp.IsZero():
		return nil
	case !controllerutil.AddFinalizer(mt, TaskFinalizer):
		return nil
	}
	return r.Update(ctx, mt)
}

// takes says whether a cluster takes a waiting pod's task into its queue: not once the
// cluster is being deleted (its framework is torn down or left), nor, for an unbound
// pod, when the cluster does not take its namespace (the Pod reconciler tells the pod,
// and queues it once its namespace is let in).
func (r *MesosTaskReconciler) takes(ctx context.Context, cluster string, pod *corev1.Pod) (bool, error) {
	mc := &mesosv1alpha1.MesosCluster{}
	if err := r.Get(ctx, client.ObjectKey{Name: cluster}, mc, client.UnsafeDisableDeepCopy); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	if !mc.DeletionTimestamp.IsZero() {
		return false, nil
	}
	if pod.Spec.NodeName != "" {
		return true, nil
	}
	return namespaceAllowed(ctx, r.Client, mc, pod.Namespace)
}

// finalize keeps a deleted MesosTask until its task cannot run: it kills a task that may
// run, and lets the MesosTask go once Mesos said it ended (or it never launched). A task
// let go while it may still run is told of once the finalizer is removed: a removal that
// conflicts (the cache had not seen the scheduler's latest write) is tried again shortly,
// and tells nothing twice.
func (r *MesosTaskReconciler) finalize(ctx context.Context, mt *mesosv1alpha1.MesosTask, sched *scheduler.Scheduler) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(mt, TaskFinalizer) {
		return ctrl.Result{}, nil
	}
	pod := &corev1.Pod{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(mt), pod); apierrors.IsNotFound(err) {
		pod = nil // gone: a task it may have left runs without an owner and is killed when it reports
	} else if err != nil {
		return ctrl.Result{}, err
	}
	var release func()
	if podtask.MayRun(mt, pod) {
		gone, err := clusterGone(ctx, r.Client, mt.Spec.ClusterRef)
		if err != nil {
			return ctrl.Result{}, err
		}
		switch {
		case gone:
			// Its cluster was deleted: its framework was torn down (Mesos killed the task) or
			// orphaned (the task is left to Mesos). Nothing here can kill it any more.
			release = func() { r.releaseOfGoneCluster(ctx, mt) }
		case podtask.ReleasedUnreachable(mt, pod):
			release = func() { r.releaseUnreachable(ctx, mt, pod) }
		case mt.Status.Phase == mesosv1alpha1.TaskPhaseUnreachable:
			// Deleted while its pod is there: the pod deleted in the foreground (a
			// Deployment's, say, with --cascade=foreground: the garbage collector deletes
			// the MesosTask first, and the pod waits for it to go), or the MesosTask deleted
			// alone. Its KILL cannot reach the agent, and the pod, which would be Failed
			// with reason NodeLost after UnreachableTimeout were its MesosTask not deleted,
			// waited with it for the agent to come back. It is so now, and the task is let
			// go: killed when Mesos reports it again.
			if left := r.unreachableLeft(mt); left > 0 {
				result, _ := r.killTask(ctx, mt)
				return ctrl.Result{RequeueAfter: min(result.RequeueAfter, left)}, nil
			}
			if lost, recheck, err := r.stillUnreachable(ctx, mt); err != nil || !lost {
				result, _ := r.killTask(ctx, mt)
				return ctrl.Result{RequeueAfter: min(result.RequeueAfter, recheck)}, err
			}
			if err := r.nodeLost(ctx, pod); err != nil {
				return retryConflict(err)
			}
			release = func() { r.releaseDeletedUnreachable(ctx, mt, pod) }
		default:
			result, _ := r.killTask(ctx, mt)
			return result, nil
		}
	}
	if sched != nil {
		sched.Dequeue(mt.Spec.TaskID)
	}
	controllerutil.RemoveFinalizer(mt, TaskFinalizer)
	if err := r.Update(ctx, mt); err != nil {
		return retryConflict(client.IgnoreNotFound(err))
	}
	r.killsTold.Delete(mt.Spec.TaskID)
	if release != nil {
		release()
	}
	return ctrl.Result{}, nil
}

// releaseOfGoneCluster tells of a task let go because its MesosCluster was deleted.
func (r *MesosTaskReconciler) releaseOfGoneCluster(ctx context.Context, mt *mesosv1alpha1.MesosTask) {
	ctrl.LoggerFrom(ctx).Info("Released the task of a deleted MesosCluster", "task", mt.Spec.TaskID, "cluster", mt.Spec.ClusterRef)
	if r.Recorder != nil {
		r.Recorder.Eventf(mt, nil, corev1.EventTypeNormal, "Released", "Release",
			"MesosCluster %s is gone: task %s is left to Mesos (torn down with its framework, or orphaned)", mt.Spec.ClusterRef, mt.Spec.TaskID)
	}
}

// releaseUnreachable tells of a task let go while its agent is unreachable
// (podtask.ReleasedUnreachable): on its MesosTask, and on the pod that took its pod's
// name, if any, which may run while the task still does, until the agent is back.
func (r *MesosTaskReconciler) releaseUnreachable(ctx context.Context, mt *mesosv1alpha1.MesosTask, pod *corev1.Pod) {
	ctrl.LoggerFrom(ctx).Info("Released the task of a pod that is gone while its agent is unreachable; it is killed when Mesos reports it again",
		"task", mt.Spec.TaskID, "agent", mt.Status.Hostname, "agentID", mt.Status.AgentID)
	if r.Recorder == nil {
		return
	}
	ev := podtask.ReleasedEvent(mt)
	r.Recorder.Eventf(mt, nil, ev.Type, ev.Reason, ev.Action, "%s", ev.Message)
	if pod != nil {
		ev = podtask.EarlierTaskUnreachableEvent(mt)
		r.Recorder.Eventf(pod, nil, ev.Type, ev.Reason, ev.Action, "%s", ev.Message)
	}
}

// releaseDeletedUnreachable tells of the task of a deleted MesosTask let go while its
// agent is unreachable, its pod still there and Failed (NodeLost): on both.
func (r *MesosTaskReconciler) releaseDeletedUnreachable(ctx context.Context, mt *mesosv1alpha1.MesosTask, pod *corev1.Pod) {
	ctrl.LoggerFrom(ctx).Info("Released the task of a deleted MesosTask, unreachable too long; it is killed when Mesos reports it again",
		"task", mt.Spec.TaskID, "agent", mt.Status.Hostname, "agentID", mt.Status.AgentID)
	if r.Recorder == nil {
		return
	}
	ev := podtask.ReleasedDeletedEvent(mt)
	r.Recorder.Eventf(mt, nil, ev.Type, ev.Reason, ev.Action, "%s", ev.Message)
	r.Recorder.Eventf(pod, nil, ev.Type, ev.Reason, ev.Action, "%s", ev.Message)
}

// clusterGone says whether a MesosCluster no longer exists: its tasks are released, for
// its deletion tore its framework down or orphaned it.
func clusterGone(ctx context.Context, c client.Reader, name string) (bool, error) {
	err := c.Get(ctx, client.ObjectKey{Name: name}, &mesosv1alpha1.MesosCluster{})
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	return false, err
}

// unreachable fails the pod of a task that stayed unreachable too long (reason
// NodeLost), as the node lifecycle does for pods of unreachable nodes, once Mesos says
// so still (stillUnreachable).
func (r *MesosTaskReconciler) unreachable(ctx context.Context, mt *mesosv1alpha1.MesosTask, pod *corev1.Pod) (ctrl.Result, error) {
	if left := r.unreachableLeft(mt); left > 0 {
		return ctrl.Result{RequeueAfter: left}, nil
	}
	if lost, recheck, err := r.stillUnreachable(ctx, mt); err != nil || !lost {
		return ctrl.Result{RequeueAfter: recheck}, err
	}
	return retryConflict(r.nodeLost(ctx, pod))
}

// mesosAnswered says whether the MesosTasks of a cluster say what Mesos answered for its
// tasks since the framework last subscribed: the reconciliation was answered, and the
// answers held back a while since have been written (scheduler.Registry.AnsweredFor).
// When not, recheck is how soon to ask again: once those answers are written, or
// unansweredRecheck while Mesos has not answered.
func mesosAnswered(reg *scheduler.Registry, cluster string) (ok bool, recheck time.Duration) {
	settled, answered := reg.AnsweredFor(cluster)
	switch {
	case !answered:
		return false, unansweredRecheck
	case settled < 0:
		return false, min(-settled+answerMargin, unansweredRecheck)
	}
	return true, 0
}

// unansweredRecheck is how soon a task whose unreachable timeout ran out (or a pod whose
// Ready waits) is looked at again while Mesos has not answered for the cluster's tasks
// since the framework last subscribed: its cluster's Reconciled turning True has it
// looked at then (reconciled_wakeups.go), this is for what that misses. answerMargin is
// how long after the answers settle it is looked at again.
const (
	unansweredRecheck = 30 * time.Second
	answerMargin      = 100 * time.Millisecond
)

// stillUnreachable says whether a task whose unreachable timeout ran out is unreachable
// still as Mesos last said: Mesos answered for the cluster's tasks since the framework
// last subscribed (mesosAnswered), and the MesosTask, read again, still says so. Until
// then the MesosTask may be older than the outage: an agent that came back while no
// manager was subscribed is heard of from the reconciliation alone, and while the master
// cannot be reached nothing can tell. Its pod then waits, as the node lifecycle evicts
// nothing while it cannot tell. recheck is how soon to look again when it is not lost.
func (r *MesosTaskReconciler) stillUnreachable(ctx context.Context, mt *mesosv1alpha1.MesosTask) (lost bool, recheck time.Duration, err error) {
	if answered, recheck := mesosAnswered(r.Registry, mt.Spec.ClusterRef); !answered {
		return false, recheck, nil
	}
	now := &mesosv1alpha1.MesosTask{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(mt), now); err != nil {
		return false, unansweredRecheck, client.IgnoreNotFound(err)
	}
	return now.UID == mt.UID && now.Status.Phase == mesosv1alpha1.TaskPhaseUnreachable && r.unreachableLeft(now) <= 0, unansweredRecheck, nil
}

// unreachableLeft is how long an unreachable task has until its pod is Failed with
// reason NodeLost: UnreachableTimeout after Mesos marked its agent unreachable, or, where
// Mesos did not say when, after the update that said it; 0 or less once it is due.
func (r *MesosTaskReconciler) unreachableLeft(mt *mesosv1alpha1.MesosTask) time.Duration {
	timeout := r.UnreachableTimeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	since := mt.CreationTimestamp.Time
	switch {
	case mt.Status.UnreachableSince != nil:
		since = mt.Status.UnreachableSince.Time
	case mt.Status.LastUpdateTime != nil:
		since = mt.Status.LastUpdateTime.Time
	}
	return timeout - time.Since(since)
}

// nodeLost makes a pod whose task was unreachable too long Failed with reason NodeLost,
// unless it is Failed already.
func (r *MesosTaskReconciler) nodeLost(ctx context.Context, pod *corev1.Pod) error {
	if pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	before := pod
	pod = pod.DeepCopy()
	podtask.UnreachableTooLong(&pod.Status)
	podtask.ObserveGeneration(pod, &pod.Status)
	// Optimistic: a status mirrored from Mesos meanwhile must not be overwritten from a
	// stale read (nor overwrite this); a conflict is tried again with the newer pod.
	return client.IgnoreNotFound(r.Status().Patch(ctx, pod, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})))
}

// killTask sends KILL for a task, and asks to be called again until Mesos says the
// task ended: soon when the framework is not subscribed or the call failed (sent is
// false), later once it went out.
func (r *MesosTaskReconciler) killTask(ctx context.Context, mt *mesosv1alpha1.MesosTask) (result ctrl.Result, sent bool) {
	d := r.Registry.Driver(mt.Spec.ClusterRef)
	if d == nil || !d.Subscribed() {
		return ctrl.Result{RequeueAfter: 2 * time.Second}, false
	}
	if err := d.Kill(ctx, mt.Spec.TaskID, mt.Status.AgentID, nil); err != nil {
		return ctrl.Result{RequeueAfter: 2 * time.Second}, false
	}
	return ctrl.Result{RequeueAfter: 10 * time.Second}, true
}

// SetupWithManager registers the reconciler. Its passes follow the Store's changes, not
// a watch of MesosTasks (taskstore).
func (r *MesosTaskReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Registry == nil {
		return errors.New("the MesosTask reconciler needs the Registry")
	}
	if r.Store == nil {
		return errors.New("the MesosTask reconciler needs the Store")
	}
	return ctrl.NewControllerManagedBy(mgr).
		WatchesRawSource(r.Store.Source(&handler.EnqueueRequestForObject{})).
		// A task goes with its pod (also where no garbage collector runs). Only a pod some
		// cluster could own can have a MesosTask: the others' changes wake nothing.
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []ctrl.Request {
			return []ctrl.Request{{NamespacedName: client.ObjectKeyFromObject(o)}}
		}), builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			p, ok := o.(*corev1.Pod)
			return ok && mayBeOurs(p)
		}))).
		// A scheduler that starts (or a cluster that becomes ready) takes the queue again.
		WatchesRawSource(r.clusterWakeups()).
		// Mesos answered after a subscription: the NodeLost that waits on it
		// (reconciled_wakeups.go).
		Watches(&mesosv1alpha1.MesosCluster{}, handler.EnqueueRequestsFromMapFunc(r.unreachableTasksOfCluster),
			builder.WithPredicates(reconciledTurnedTrue)).
		// The tasks waiting to be launched on a Node that is deleted end (nodeGone).
		Watches(&corev1.Node{}, handler.Funcs{DeleteFunc: r.nodeGone}).
		// The tasks of a cluster that went let go of their finalizers (holdFinalizer),
		// also those written after the cluster let go of the ones it knew.
		Watches(&mesosv1alpha1.MesosCluster{}, handler.EnqueueRequestsFromMapFunc(r.tasksOfCluster()),
			builder.WithPredicates(predicate.Funcs{
				CreateFunc:  func(event.CreateEvent) bool { return false },
				UpdateFunc:  func(event.UpdateEvent) bool { return false },
				GenericFunc: func(event.GenericEvent) bool { return false },
			})).
		WithOptions(controller.Options{MaxConcurrentReconciles: 8}).
		Named("mesostask").
		Complete(r)
}

// tasksOfCluster maps a cluster to its MesosTasks.
func (r *MesosTaskReconciler) tasksOfCluster() handler.MapFunc {
	return func(ctx context.Context, o client.Object) []ctrl.Request {
		var list mesosv1alpha1.MesosTaskList
		if err := r.List(ctx, &list, client.MatchingFields{indexer.ClusterRef: o.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
			return nil
		}
		reqs := make([]ctrl.Request, 0, len(list.Items))
		for i := range list.Items {
			reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
		return reqs
	}
}

// clusterWakeups re-queues a cluster's tasks its driver's wake-ups concern (tasksToWake).
func (r *MesosTaskReconciler) clusterWakeups() source.Source {
	return source.Channel(r.Registry.ListenDrivers(), handler.EnqueueRequestsFromMapFunc(r.tasksToWake))
}
