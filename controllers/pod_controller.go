package controllers

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/metrics"
	"github.com/k8sm/k8sm/internal/podtask"
	"github.com/k8sm/k8sm/internal/scheduler"
	"github.com/k8sm/k8sm/internal/taskstore"
)

// PodReconciler takes the pods that name a MesosCluster's schedulerName: it gives each a
// MesosTask, and when a pod is deleted it has the task killed and removes the pod once
// the task ended, as a kubelet would.
type PodReconciler struct {
	client.Client
	// Registry holds the clusters' drivers and schedulers. Required.
	Registry *scheduler.Registry
	// Store holds the MesosTasks, whose creates and deletes start passes. Required.
	Store *taskstore.Store
	// Tasks reads the pods of a cluster's wakeups without a copy of each (indexer.Setup).
	// Default: Client's field indexes, listed.
	Tasks indexer.Tasks
	// Recorder records events for people; optional.
	Recorder events.EventRecorder
	// APIReader reads a pod's ServiceAccount, uncached, when its imagePullSecrets may be
	// the ServiceAccount's (pod_pullsecrets.go); nil reads none.
	APIReader client.Reader
	// Workers is how many pods are handled at once. Default 8.
	Workers int

	// kills are the KILLs sent lately for deleted pods.
	kills killsSent
}

func (r *PodReconciler) concurrency() int {
	if r.Workers > 0 {
		return r.Workers
	}
	return 8
}

// Reconcile handles one pod. The pod is the cache's own, read without a copy (most
// passes write nothing: a bound pod's readiness and tolerations found as they should be,
// and copying the pod at every pass was about 6% of the manager's allocations in a
// burst): only the paths that may write take a copy (pod.DeepCopy below), and
// endOfRemovedFramework, reevaluateReadiness and tolerateOutages copy it before they
// change it. The unit tests' fake API (podAPI) shares pods read so, as the cache does,
// and fails a test whose reader changed one.
func (r *PodReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pod := &corev1.Pod{}
	if err := r.Get(ctx, req.NamespacedName, pod, client.UnsafeDisableDeepCopy); err != nil {
		if apierrors.IsNotFound(err) {
			// Gone at once (no grace period): a task whose MesosTask is not written yet
			// has no finalizer to have it killed.
			r.Registry.PodGone(ctx, req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	mt := &mesosv1alpha1.MesosTask{}
	mtErr := r.Get(ctx, req.NamespacedName, mt)
	if mtErr != nil && !apierrors.IsNotFound(mtErr) {
		return ctrl.Result{}, mtErr
	}
	haveTask := mtErr == nil && mt.Spec.PodUID == string(pod.UID)
	var clusterOfTask string
	if haveTask {
		clusterOfTask = mt.Spec.ClusterRef
	}
	mc, kubelets, err := r.clusterFor(ctx, pod, clusterOfTask)
	if err != nil {
		return ctrl.Result{}, err
	}
	if kubelets {
		// Bound to a kubelet's Node, though named like an agent's: the pod is its
		// kubelet's to run, stop and remove, through its grace period and preStop hooks.
		return ctrl.Result{}, nil
	}
	if mc == nil {
		return r.withoutCluster(ctx, pod.DeepCopy(), mt, haveTask)
	}
	if res, done, err := r.endOfRemovedFramework(ctx, pod, mt, haveTask, mc); done {
		return res, err
	}

	if !pod.DeletionTimestamp.IsZero() {
		return r.deletePod(ctx, pod.DeepCopy(), mt, haveTask, mc)
	}
	if haveTask && !podtask.PodTerminal(pod) && agentnode.OnAgentNode(pod) {
		res, done, err := r.reevaluateReadiness(ctx, pod, mt)
		if done {
			return res, err
		}
		out, err := r.tolerateOutages(ctx, pod, mc)
		if err == nil && res.RequeueAfter > 0 && (out.RequeueAfter == 0 || res.RequeueAfter < out.RequeueAfter) {
			out.RequeueAfter = res.RequeueAfter
		}
		return out, err
	}
	if podtask.PodTerminal(pod) || (haveTask && (pod.Spec.NodeName != "" || podtask.Launched(mt.Status.Phase))) {
		// Its task is the MesosTask reconciler's and the scheduler's.
		return ctrl.Result{}, nil
	}
	if !haveTask && mtErr == nil {
		return r.awaitEarlierTask(ctx, pod.DeepCopy(), mt, mc)
	}
	if !haveTask && pod.Spec.NodeName != "" && pod.Spec.SchedulerName == mc.Spec.SchedulerName && podtask.BoundByBinding(pod) {
		// Bound by this operator: its task was launched, and its MesosTask is written
		// when Mesos reports on it, or later in a burst (scheduler.RecordLongest), or it lost
		// its MesosTask, and its task was killed with it. Running meanwhile, its readiness
		// follows its gates and it tolerates outages, as any pod of the cluster's. A pod
		// created bound, with the cluster's schedulerName or not, is taken as any pod
		// bound before it was taken: its namespace and what it asks are checked (takeNew).
		if !podtask.PodTerminal(pod) && agentnode.OnAgentNode(pod) {
			if res, done, err := r.reevaluateReadiness(ctx, pod, nil); done {
				return res, err
			}
			return r.tolerateOutages(ctx, pod, mc)
		}
		return ctrl.Result{}, nil
	}
	if len(pod.Spec.SchedulingGates) > 0 {
		// Gated (a quota system holds it until it admits it): kube-scheduler keeps such a
		// pod out of its queue, and so does k8sm, its SchedulingGated condition the API
		// server's. The update that removes its last gate brings it here again.
		return ctrl.Result{}, nil
	}
	ok, err := namespaceAllowed(ctx, r.Client, mc, pod.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !ok {
		if pod.Spec.NodeName != "" {
			// Bound to an agent's Node without the cluster's consent: nothing will run
			// it there, so it fails, as a pod a kubelet does not admit.
			return retryConflict(r.notAdmitted(ctx, pod.DeepCopy(), mc))
		}
		return retryConflict(r.namespaceRefused(ctx, pod.DeepCopy(), mc))
	}
	if haveTask {
		// Unbound, its MesosTask written while it waited (not launched): queued with it,
		// as the MesosTask reconciler queues it, now that its namespace may be taken again.
		if s := r.Registry.Scheduler(mc.Name); s != nil {
			s.Enqueue(ctx, mt, pod.DeepCopy())
		}
		return ctrl.Result{}, nil
	}
	return r.takeNew(ctx, pod.DeepCopy(), mc)
}

// takeNew takes a pod the cluster has no task for yet: one it cannot run fails
// (invalid), one it cannot place waits as Unschedulable (unplaceable), an unbound one is
// queued, and one bound before it was taken gets its MesosTask.
func (r *PodReconciler) takeNew(ctx context.Context, pod *corev1.Pod, mc *mesosv1alpha1.MesosCluster) (ctrl.Result, error) {
	mt, err := podtask.NewMesosTask(pod, mc, pod.Spec.NodeName)
	if err == nil {
		err = podtask.CheckSecurity(pod, podtask.SecurityFor(mc))
	}
	if err != nil {
		// Queued before, should it be: the cluster's security changed since.
		if s := r.Registry.Scheduler(mc.Name); s != nil {
			s.Dequeue(podtask.TaskIDFor(pod))
		}
		return retryConflict(r.invalid(ctx, pod, err))
	}
	if err := podtask.CheckPlaceable(pod); err != nil {
		return retryConflict(r.unplaceable(ctx, pod, mc, err))
	}
	rt := podtask.SecurityFor(mc).Runtime
	if err := podtask.CheckRuntime(r.withoutServiceAccountPullSecrets(ctx, pod, rt), rt); err != nil {
		return retryConflict(r.unplaceable(ctx, pod, mc, err))
	}
	if err := podtask.CheckGPUs(pod, mc); err != nil {
		// Queued while the cluster had the capability: no GPU offer comes now.
		return retryConflict(r.unplaceable(ctx, pod, mc, err))
	}
	if err := podtask.CheckRole(pod, mc); err != nil {
		return retryConflict(r.unplaceable(ctx, pod, mc, err))
	}
	if pod.Spec.NodeName == "" {
		// Queued in memory: the pod is the queue entry, and its MesosTask is first written
		// when Mesos first reports the task, state and all (podtask.NewMesosTask). A
		// scheduler that starts later takes it then (wakeups).
		if s := r.Registry.Scheduler(mc.Name); s != nil {
			s.Enqueue(ctx, mt, pod)
		}
		return ctrl.Result{}, nil
	}
	// Bound before it was taken: its MesosTask is written now, and records its launch.
	if err := r.Create(ctx, mt); err != nil && !apierrors.IsAlreadyExists(err) {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, nil
}

// earlierTaskRecheck is how often a pod waiting for the MesosTask of an earlier pod of
// the same name looks at it again, should the watch miss its going.
const earlierTaskRecheck = 30 * time.Second

// awaitEarlierTask holds a pod back while the MesosTask of an earlier pod of the same
// name is there (a StatefulSet's pod made again after the earlier one was force-deleted):
// that MesosTask is deleted, and goes once its task cannot run (MesosTaskReconciler.finalize
// kills it, or lets it go while its agent is unreachable); its going brings the pod here
// again (the MesosTask watch). While the earlier task may still run, an unbound pod says so
// with PodScheduled=False, as kube-scheduler tells of a pod it cannot place yet. A pod
// queued before that MesosTask was written (a new leader records a task whose pod is gone
// after it subscribed: scheduler.learnEarlierTasks) leaves the queue.
func (r *PodReconciler) awaitEarlierTask(ctx context.Context, pod *corev1.Pod, mt *mesosv1alpha1.MesosTask, mc *mesosv1alpha1.MesosCluster) (ctrl.Result, error) {
	if s := r.Registry.Scheduler(mc.Name); s != nil {
		s.Dequeue(podtask.TaskIDFor(pod))
	}
	if mt.DeletionTimestamp.IsZero() {
		if err := r.Delete(ctx, mt, client.Preconditions{UID: &mt.UID}); client.IgnoreNotFound(err) != nil {
			return retryConflict(err)
		}
		ctrl.LoggerFrom(ctx).V(1).Info("Deleted the MesosTask of an earlier pod of the same name", "task", mt.Spec.TaskID)
	}
	if pod.Spec.NodeName == "" && podtask.MayRun(mt, nil) {
		if err := scheduler.WritePodUnschedulable(ctx, r.Client, r.Recorder, pod, podtask.EarlierTaskMessage(mt)); err != nil {
			return retryConflict(err)
		}
	}
	return ctrl.Result{RequeueAfter: earlierTaskRecheck}, nil
}

// retryConflict is the result of a pass whose last write returned err: a conflict (the
// cache had not seen the pod's latest version, a normal race) is tried again shortly
// with the newer pod, as every write here is; another error is the pass's.
func retryConflict(err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) {
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
	}
	return ctrl.Result{}, err
}

// withoutCluster handles a pod no usable cluster owns, unbound or bound to a Node that
// is no more (a kubelet's Node is left alone before). Only a deleted pod whose task's
// cluster was deleted is acted on: it is removed, as the pod garbage collector removes
// the pods of a Node that went (Failed first, or as its task ended), for nothing will
// report its task again (see MesosTaskReconciler.finalize). A pod once on an agent's Node
// without a MesosTask of its own (haveTask false: its cluster bound it, and went before
// Mesos reported on its task) goes once no cluster holds its schedulerName, when that
// could be a cluster's: the default scheduler's pod bound to a Node named mesos-… that
// went is a kubelet's Node's as likely, and left to the pod garbage collector.
func (r *PodReconciler) withoutCluster(ctx context.Context, pod *corev1.Pod, mt *mesosv1alpha1.MesosTask, haveTask bool) (ctrl.Result, error) {
	if pod.DeletionTimestamp.IsZero() || (!haveTask && (!agentnode.OnAgentNode(pod) || !clusterSchedulerName(pod.Spec.SchedulerName))) {
		return ctrl.Result{}, nil
	}
	var gone bool
	var err error
	var st *mesosv1alpha1.MesosTaskStatus
	if haveTask {
		gone, err = clusterGone(ctx, r.Client, mt.Spec.ClusterRef)
		st = &mt.Status
	} else {
		var list mesosv1alpha1.MesosClusterList
		err = r.List(ctx, &list, client.MatchingFields{indexer.ClusterSchedulerName: pod.Spec.SchedulerName})
		gone = len(list.Items) == 0
	}
	if err != nil || !gone {
		return ctrl.Result{}, err
	}
	return r.removeEnded(ctx, pod, st)
}

// removeEnded removes a deleted pod whose task is over or never ran, with the final
// status it implies (scheduler.RemoveEndedPod); st is its task's status, nil when none
// is known. A conflict (the cache had not seen the pod's latest write) is tried again
// shortly with the newer pod.
func (r *PodReconciler) removeEnded(ctx context.Context, pod *corev1.Pod, st *mesosv1alpha1.MesosTaskStatus) (ctrl.Result, error) {
	return retryConflict(client.IgnoreNotFound(scheduler.RemoveEndedPod(ctx, r.Client, pod, podtask.FinalPodStatus(pod, st, nil))))
}

// reevaluateReadiness makes a running pod Ready, or not, as a kubelet re-evaluates Ready
// when its pod changes: once the conditions of its readiness gates change
// (podtask.GatedReadiness: the controller behind a gate, a load balancer's say, sets its
// condition when it sees fit), and once someone else set its Ready otherwise than its
// task says (podtask.RestoredReadiness: the node lifecycle controller, while the agent's
// Node was not Ready), once Mesos answered for the cluster's tasks since the framework
// subscribed (the MesosTask may be older than the outage; until then the pod is looked
// at again every unansweredRecheck, or once the answers are written: mesosAnswered). A pod whose MesosTask is not written yet (mt nil:
// its create deferred in a burst) has only its gates evaluated; the rest waits for the
// MesosTask. done says whether it wrote (or must try again).
func (r *PodReconciler) reevaluateReadiness(ctx context.Context, pod *corev1.Pod, mt *mesosv1alpha1.MesosTask) (ctrl.Result, bool, error) {
	st, changed := podtask.GatedReadiness(pod)
	if mt == nil && !changed {
		return ctrl.Result{}, false, nil
	}
	var wait ctrl.Result
	if !changed {
		st, changed = podtask.RestoredReadiness(pod, &mt.Status)
		if answered, recheck := mesosAnswered(r.Registry, mt.Spec.ClusterRef); changed && !answered {
			// The MesosTask may be older than the outage (its agent lost meanwhile): not
			// before Mesos answered for the cluster's tasks since the framework subscribed.
			changed, wait = false, ctrl.Result{RequeueAfter: recheck}
		}
	}
	if !changed {
		// Its spec may have changed since its status was written (say, its tolerations):
		// its status says it saw the change, as a kubelet's does at its next sync.
		st = *pod.Status.DeepCopy()
	}
	var warnings []podtask.Event
	marked := false
	if mt != nil {
		warnings, marked = unapplied(pod, mt, &st)
	}
	if !changed && !marked && !podtask.SpecChangedSinceStatus(pod) {
		return wait, false, nil
	}
	podtask.ObserveGeneration(pod, &st)
	pod = pod.DeepCopy() // the cache's own
	pod.Status = st
	// With the version read: a status the scheduler wrote meanwhile is read again.
	err := r.Status().Update(ctx, pod)
	if apierrors.IsConflict(err) {
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, true, nil
	}
	if err == nil {
		ctrl.LoggerFrom(ctx).V(1).Info("Evaluated the pod's readiness again", "ready", podtask.PodReady(&pod.Status))
		r.warn(pod, mt, warnings)
	}
	return wait, true, client.IgnoreNotFound(err)
}

// tolerateOutages makes a pod on an agent's Node tolerate that Node going NotReady for
// as long as Mesos keeps the framework's tasks (its failover timeout): the Node goes
// NotReady when no replica of the manager renews it, not when the agent is lost (Mesos
// says that, TASK_UNREACHABLE or TASK_GONE, and the pod fails with it). Without this,
// every replica down longer than a pod's toleration would have kube-controller-manager
// evict the pod, and the returning manager kill its running task (agentnode.OutageTolerations).
func (r *PodReconciler) tolerateOutages(ctx context.Context, pod *corev1.Pod, mc *mesosv1alpha1.MesosCluster) (ctrl.Result, error) {
	tolerations, changed := agentnode.OutageTolerations(pod.Spec.Tolerations, failoverTimeout(mc))
	if !changed {
		return ctrl.Result{}, nil
	}
	before := pod // the cache's own
	pod = pod.DeepCopy()
	pod.Spec.Tolerations = tolerations
	// Optimistic: the tolerations are replaced whole, so one added meanwhile must not be
	// lost to a stale read. A conflict (the pod's status was just written, and the cache
	// has not seen it) is normal waiting: it is tried again with the newer pod.
	if err := r.Patch(ctx, pod, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return retryConflict(client.IgnoreNotFound(err))
	}
	// The outage tolerations policy gives them as the pod is created; a count that
	// grows while it is installed says the API server does not apply it.
	metrics.Cluster(mc.Name).OutageTolerationsWritten()
	ctrl.LoggerFrom(ctx).V(1).Info("Lengthened the pod's tolerations of an unreachable or not-ready Node to the framework's failover timeout")
	return ctrl.Result{}, nil
}

// invalid fails a pod that cannot be a Mesos task (it asks for more than Mesos can hold),
// as the scheduler fails one it cannot launch.
func (r *PodReconciler) invalid(ctx context.Context, pod *corev1.Pod, cause error) error {
	before := pod.DeepCopy()
	podtask.SetPodInvalid(&pod.Status, cause)
	podtask.ObserveGeneration(pod, &pod.Status)
	if err := r.Status().Patch(ctx, pod, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(err)
	}
	if r.Recorder != nil {
		r.Recorder.Eventf(pod, nil, corev1.EventTypeWarning, podtask.ReasonInvalidPod, "Translate", "%s", pod.Status.Message)
	}
	return nil
}

// unplaceable refuses a pod that asks for resources k8sm cannot place (no agent offers
// them to it), claims devices, or may run only beside or away from other pods
// (podtask.CheckPlaceable says why), needs what the cluster's runtime cannot provide
// (podtask.CheckRuntime), or asks for GPUs of a cluster whose framework lacks
// GPU_RESOURCES (podtask.CheckGPUs), or for a role the framework is not offered
// (podtask.CheckRole), before it is queued: taken out of the queue, should
// it be there (the cluster's runtime or capabilities changed since). An unbound pod stays
// Pending with PodScheduled=False, reason Unschedulable, and a FailedScheduling event, as
// kube-scheduler leaves a pod no node has the resources for: it never gets an offer, and
// its user deletes and fixes it (or the cluster: a change of the cluster takes its
// unbound pods again).
// Its status is written, and the event recorded, only when that changed. A pod bound
// before it was taken runs on its Node's agent or nowhere: it fails, as a pod its Node
// cannot admit.
func (r *PodReconciler) unplaceable(ctx context.Context, pod *corev1.Pod, mc *mesosv1alpha1.MesosCluster, why error) error {
	if pod.Spec.NodeName != "" {
		return r.invalid(ctx, pod, why)
	}
	if s := r.Registry.Scheduler(mc.Name); s != nil {
		s.Dequeue(podtask.TaskIDFor(pod))
	}
	return scheduler.WritePodUnschedulable(ctx, r.Client, r.Recorder, pod, why.Error())
}

// deletePod kills the pod's task and removes the pod once the task is over, its terminal
// phase written first, or once the pod was Failed while its task stayed unreachable
// (podtask.LostForGood). A pod the cluster bound whose task has not reported yet has no
// MesosTask: its task may run all the same (the binding records the launch), and is
// killed the same way.
func (r *PodReconciler) deletePod(ctx context.Context, pod *corev1.Pod, mt *mesosv1alpha1.MesosTask, haveTask bool, mc *mesosv1alpha1.MesosCluster) (ctrl.Result, error) {
	if !haveTask {
		mt, _ = podtask.NewMesosTask(pod, mc, "")
	}
	if mt != nil && podtask.MayRun(mt, pod) && !podtask.LostForGood(mt, pod) {
		d := r.Registry.Driver(mt.Spec.ClusterRef)
		if d == nil || !d.Subscribed() {
			return ctrl.Result{RequeueAfter: 2 * time.Second}, nil
		}
		grace := killGrace(pod)
		agent := mt.Status.AgentID
		if agent == "" {
			agent, _ = scheduler.AgentOfNode(ctx, r.Client, pod.Spec.NodeName)
		}
		// A KILL reaches a task Mesos reported (its MesosTask says so, or its pod runs: a
		// burst defers the MesosTask's write) on an agent Mesos can reach. Else it may
		// have overtaken the task's launch, or its agent is away, and Mesos forgets it.
		reported := mt.Status.MesosState != "" || pod.Status.Phase == corev1.PodRunning
		reaches := reported && mt.Status.Phase != mesosv1alpha1.TaskPhaseUnreachable
		now := time.Now()
		if due, wait := r.kills.due(mt.Spec.TaskID, grace, reaches, now); !due {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
		if err := d.Kill(ctx, mt.Spec.TaskID, agent, &grace); err != nil {
			return ctrl.Result{RequeueAfter: 2 * time.Second}, nil
		}
		// The terminal update removes the pod; ask again if it does not come.
		return ctrl.Result{RequeueAfter: r.kills.record(mt.Spec.TaskID, grace, reaches, now)}, nil
	}
	if haveTask && podtask.IsTerminalPhase(mt.Status.Phase) && fromAgent(&mt.Status) {
		if wait := deletedEndSettle - time.Since(lastUpdate(&mt.Status)); wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil // the scheduler removes it with the update's data
		}
	}
	if s := r.Registry.Scheduler(mc.Name); s != nil {
		s.Dequeue(podtask.TaskIDFor(pod))
	}
	r.kills.forget(podtask.TaskIDFor(pod))
	// Never launched, or over: the pod goes at once, with the phase its task ended with
	// (Failed if it never ran).
	var st *mesosv1alpha1.MesosTaskStatus
	if mt != nil {
		st = &mt.Status
	}
	return r.removeEnded(ctx, pod, st)
}

// clusterFor finds the MesosCluster that owns a pod, if it can: for a bound pod the
// cluster of its Node (agentnode.ClusterOfNode; of its MesosTask, clusterOfTask, once
// the Node is gone); for an unbound pod the cluster holding its schedulerName. kubelets
// says the pod is bound to a Node that exists and is no agent's, whatever its name: a
// kubelet's. The cluster is the cache's own object, to read only: every pass over a pod
// asks for it.
func (r *PodReconciler) clusterFor(ctx context.Context, pod *corev1.Pod, clusterOfTask string) (mc *mesosv1alpha1.MesosCluster, kubelets bool, err error) {
	if pod.Spec.NodeName == "" {
		var list mesosv1alpha1.MesosClusterList
		if err := r.List(ctx, &list, client.MatchingFields{indexer.ClusterSchedulerName: pod.Spec.SchedulerName}, client.UnsafeDisableDeepCopy); err != nil {
			return nil, false, err
		}
		for i := range list.Items {
			if usable(&list.Items[i]) {
				return &list.Items[i], false, nil
			}
		}
		return nil, false, nil
	}
	name := clusterOfTask
	node := &corev1.Node{}
	if err := r.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, node, client.UnsafeDisableDeepCopy); err == nil {
		if name = agentnode.ClusterOfNode(node); name == "" {
			return nil, true, nil
		}
	} else if !apierrors.IsNotFound(err) {
		return nil, false, err
	}
	if name == "" {
		return nil, false, nil
	}
	mc = &mesosv1alpha1.MesosCluster{}
	if err := r.Get(ctx, client.ObjectKey{Name: name}, mc, client.UnsafeDisableDeepCopy); err != nil {
		return nil, false, client.IgnoreNotFound(err)
	}
	if !usable(mc) {
		return nil, false, nil
	}
	return mc, false, nil
}

// clusterSchedulerName says whether a MesosCluster may hold a schedulerName: any but the
// default scheduler's (the MesosCluster API refuses it).
func clusterSchedulerName(name string) bool {
	return name != "" && name != corev1.DefaultSchedulerName
}

// usable says whether a cluster takes pods: not being deleted, its framework set up, and
// its schedulerName its own.
func usable(mc *mesosv1alpha1.MesosCluster) bool {
	ready := meta.FindStatusCondition(mc.Status.Conditions, mesosv1alpha1.ConditionReady)
	return mc.DeletionTimestamp.IsZero() && ready != nil && ready.Reason != ReasonSchedulerNameConflict
}

// SetupWithManager registers the reconciler for pods with a schedulerName some
// MesosCluster could own (not the default scheduler's), and for pods bound to an agent's
// Node by anyone. It reads the indexer's ClusterSchedulerName, PodSchedulerName and
// PodNodeName indexes.
func (r *PodReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Registry == nil || r.Store == nil {
		return errors.New("the Pod reconciler needs the Registry and the Store")
	}
	ours := builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
		p, ok := o.(*corev1.Pod)
		return ok && mayBeOurs(p)
	}))
	return ctrl.NewControllerManagedBy(mgr).
		For(&corev1.Pod{}, ours).
		// A pod that goes leaves its cluster's queue (dequeueGone).
		Watches(&corev1.Pod{}, handler.Funcs{DeleteFunc: r.dequeueGone}, ours).
		// A pod's MesosTask that appears after the pod's last pass (its outage tolerations
		// and readiness gates wait for it), or the MesosTask of an earlier pod of the same
		// name that goes (the pod waits for it): the pod of that name is looked at again.
		// Its updates (task status) wake nothing here.
		WatchesRawSource(r.Store.Source(&handler.EnqueueRequestForObject{}, createdOrDeleted)).
		// A namespace whose labels change may be let in by a cluster's namespaceSelector,
		// or kept out: its pods waiting to be placed are looked at again.
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.podsOfNamespace), builder.WithPredicates(namespaceLabelsChanged)).
		// Pods created before their cluster was ready are taken when it is.
		Watches(&mesosv1alpha1.MesosCluster{}, handler.EnqueueRequestsFromMapFunc(r.podsOfCluster),
			builder.WithPredicates(intakeChanged)).
		Watches(&mesosv1alpha1.MesosCluster{}, handler.EnqueueRequestsFromMapFunc(r.boundPodsOfCluster),
			builder.WithPredicates(failoverTimeoutRaised)).
		// Mesos answered after a subscription: the Ready that waits on it (reconciled_wakeups.go).
		Watches(&mesosv1alpha1.MesosCluster{}, handler.EnqueueRequestsFromMapFunc(r.notReadyPodsOfCluster),
			builder.WithPredicates(reconciledTurnedTrue)).
		// Queued pods live in their cluster's scheduler (their MesosTask is not written
		// yet): a scheduler that starts, or a driver that (re)subscribes, takes them again.
		WatchesRawSource(source.Channel(r.Registry.ListenDrivers(), handler.EnqueueRequestsFromMapFunc(r.podsOfClusterNamed))).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.concurrency()}).
		Named("pod").
		Complete(r)
}

// createdOrDeleted passes creations and deletions only.
var createdOrDeleted = predicate.Funcs{
	UpdateFunc:  func(event.UpdateEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// mayBeOurs says whether a pod may be a MesosCluster's: it names a scheduler other than
// the default one, or it is bound to a Node named as an agent's.
func mayBeOurs(p *corev1.Pod) bool {
	return clusterSchedulerName(p.Spec.SchedulerName) || agentnode.OnAgentNode(p)
}

// intakeChanged passes the cluster changes that decide which pods a cluster takes: its
// spec (schedulerName, namespaceSelector) and its Ready condition. Status-only changes
// such as task counts, written every few seconds, would otherwise list every pod.
var intakeChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*mesosv1alpha1.MesosCluster)
		n, ok2 := e.ObjectNew.(*mesosv1alpha1.MesosCluster)
		if !ok1 || !ok2 {
			return true
		}
		return o.Generation != n.Generation || !o.DeletionTimestamp.Equal(n.DeletionTimestamp) || readyKey(o) != readyKey(n)
	},
}

// readyKey is what of a cluster's Ready condition decides whether it takes pods.
func readyKey(mc *mesosv1alpha1.MesosCluster) string {
	c := meta.FindStatusCondition(mc.Status.Conditions, mesosv1alpha1.ConditionReady)
	if c == nil {
		return ""
	}
	return string(c.Status) + "/" + c.Reason
}
