package scheduler

import (
	"context"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/placement"
	"github.com/k8sm/k8sm/internal/podtask"
)

// The launch record: a launch is recorded before it is sent, so that a restarted
// manager knows the task may run and asks Mesos instead of launching it again. Usually
// the binding is that record: a pod the cluster bound has no MesosTask until Mesos first
// reports its task (or, written by an earlier version, one without a phase), it may run
// (podtask.MayRun), and the first update's write creates its MesosTask with the agent,
// the time and the state, which makes it one MesosTask write per pod. A MesosTask that
// has a phase already (it waited Unschedulable, or Mesos sent it back) says Pending,
// which means "not launched": it gets the launch written. So does the MesosTask of a pod bound before it was taken,
// since its binding records nothing (podtask.LaunchNeedsWrite), and the pod too
// (podtask.ConditionTaskLaunched), in case the MesosTask is lost.

// preparedLaunch is a task ready to go in an ACCEPT, with what its Launched event names.
type preparedLaunch struct {
	info     mesos.TaskInfo
	mt       *mesosv1alpha1.MesosTask
	pod      *corev1.Pod
	hostname string
	// boundTo is the Node this launch bound the pod to; empty for a pod bound before.
	boundTo string
	// recorded: the launch was written on its MesosTask.
	recorded bool
}

// event records what a person reads of the launch on the pod: one event where
// kube-scheduler and a kubelet would write several, since each costs the API server a
// write. A pod this launch bound gets kube-scheduler's Scheduled, saying also which
// task runs it where (or, when the ACCEPT failed, only where it is bound); a pod bound
// before gets Launched.
//
// A launch after a refusal of the task's id (podtask.IDTaken) is told once: while Mesos
// keeps refusing it, each launch would tell the same.
func (s *Scheduler) event(t *preparedLaunch, accepted bool) {
	if !s.tellRelaunch(t.info.TaskID.Value) {
		return
	}
	var related runtime.Object
	if t.mt.ResourceVersion != "" {
		related = t.mt // a MesosTask not written yet is nothing to point at
	}
	switch {
	case t.boundTo != "" && accepted:
		s.Recorder.Eventf(t.pod, related, corev1.EventTypeNormal, "Scheduled", "Binding", "Successfully assigned %s/%s to %s; launched task %s on agent %s",
			t.pod.Namespace, t.pod.Name, t.boundTo, t.info.TaskID.Value, t.hostname)
	case t.boundTo != "":
		s.Recorder.Eventf(t.pod, related, corev1.EventTypeNormal, "Scheduled", "Binding", "Successfully assigned %s/%s to %s", t.pod.Namespace, t.pod.Name, t.boundTo)
	case accepted:
		s.Recorder.Eventf(t.pod, related, corev1.EventTypeNormal, "Launched", "Launch", "Launched task %s on agent %s", t.info.TaskID.Value, t.hostname)
	}
}

// prepareLaunch builds the pod's TaskInfo, records the launch, binds the pod and returns
// the TaskInfo, or nil for a task whose pod went away, that cannot be a task, or that could
// not be bound, or whose offers' subscription ended: it is not launched. Once that
// subscription ended no pod is bound to their agents: the pods wait, unbound, for the
// next subscription's offers, of any agent.
func (l *offerLaunch) prepareLaunch(ctx context.Context, a placement.Assignment) *preparedLaunch {
	s, key, executor := l.s, l.queued.keys[a.Request.ID], l.executor
	if !l.on.live() {
		return nil
	}
	pod, mt := s.launchable(ctx, key, a)
	if pod == nil {
		return nil
	}
	node := a.Node
	if pod.Spec.NodeName != "" && pod.Spec.NodeName != node {
		// Bound to another Node since it was queued (not by this operator): it runs on
		// that Node's agent, so it waits for an offer from there.
		s.Enqueue(ctx, mt, pod)
		return nil
	}
	// A pod that cannot be a task (or that its cluster refuses) fails before anything is
	// recorded or bound for it.
	ti, err := podtask.BuildTaskInfo(pod, a, executor, l.security)
	if err != nil {
		s.failTask(ctx, key, a.Request.ID, err)
		return nil
	}
	launch := podtask.Launch{AgentID: a.AgentID.Value, Hostname: a.Hostname, ExecutorID: executor.ExecutorID.Value, At: metav1.Now()}
	recorded := podtask.LaunchNeedsWrite(mt)
	if recorded {
		podtask.SetLaunched(&mt.Status, launch, mt.Generation)
		if err := s.saveTask(ctx, mt); err != nil {
			s.Log.V(1).Info("Could not record the launch; retrying on a later offer", "pod", key.String(), "error", err.Error())
			return nil
		}
	}
	if !l.on.live() {
		// It ended during the reads and the write: the binding would tie the pod to an
		// agent whose offers Mesos took back.
		if recorded {
			s.relaunch(ctx, key, a.Request.ID)
		}
		return nil
	}
	if pod.Spec.NodeName != "" && mt.Spec.NodeName != "" && !podtask.LaunchedOnPod(pod) {
		// Bound before it was taken: its binding records no launch, and its MesosTask,
		// which does, may be lost (a new leader with the MesosTasks in memory): the pod
		// records it too, after the MesosTask, which says it was launched (unless the pod
		// shows it already).
		if err := s.markLaunched(ctx, pod); err != nil {
			s.Log.V(1).Info("Could not record the launch on the pod; retrying on a later offer", "pod", key.String(), "error", err.Error())
			if recorded {
				s.relaunch(ctx, key, a.Request.ID)
			}
			return nil
		}
	}
	var unwritten *types.NamespacedName
	if mt.ResourceVersion == "" {
		unwritten = &key
	}
	s.noteLaunch(a.Request.ID, launch, unwritten)
	t := &preparedLaunch{info: ti, mt: mt, pod: pod, hostname: a.Hostname, recorded: recorded}
	if pod.Spec.NodeName == "" {
		if err := s.bind(ctx, pod, node); err != nil {
			if bindMayBeMade(err) {
				s.noteBoundUnsent(a.Request.ID, node) // its answer lost
			}
			s.forgetLaunch(a.Request.ID)
			if recorded {
				s.relaunch(ctx, key, a.Request.ID)
			}
			return nil
		}
		t.boundTo = node
		s.noteBound(pod, node, a.Hostname)
	}
	return t
}

// launchable reads the pod (to read only) and the MesosTask of an assignment, or dequeues the task and
// returns nils when it is not to be launched: its pod went or is being deleted, or its
// MesosTask is another's or launched already. A queued pod whose MesosTask is not
// written (podtask.NewMesosTask) gets one to launch with, unwritten.
func (s *Scheduler) launchable(ctx context.Context, key types.NamespacedName, a placement.Assignment) (*corev1.Pod, *mesosv1alpha1.MesosTask) {
	if s.LaunchUnwritten(a.Request.ID) {
		// Launched by this process, its first update not written yet: queued again from a
		// cache that had not seen the binding. Its binding would fail, and that failure
		// must not drop the record of the launch under way.
		s.Dequeue(a.Request.ID)
		return nil, nil
	}
	if s.uncertainLately(a.Request.ID) {
		// Its ACCEPT failed a moment ago and may have reached the master: Mesos's answer
		// says (launchFailed), and queues it again if Mesos never got it. Launched again
		// now, its bind would be refused (the pod is bound), and the refusal would forget
		// the first launch, whose updates then find no owner.
		s.Dequeue(a.Request.ID)
		return nil, nil
	}
	// The cache's own pod, to read only: a round may launch thousands of pods at once,
	// and a copy of each was the largest part of the manager's heap at such a time.
	pod := &corev1.Pod{}
	if err := s.Client.Get(ctx, key, pod, client.UnsafeDisableDeepCopy); err != nil || !pod.DeletionTimestamp.IsZero() {
		s.Dequeue(a.Request.ID)
		return nil, nil
	}
	if pod.Spec.NodeName == "" && !s.namespaceTaken(ctx, pod.Namespace) {
		// Queued before the cluster's namespaceSelector, or its namespace's labels,
		// changed: the Pod reconciler tells the pod, and queues it again if they change back.
		s.Dequeue(a.Request.ID)
		return nil, nil
	}
	mt := &mesosv1alpha1.MesosTask{}
	err := s.Client.Get(ctx, key, mt)
	if (apierrors.IsNotFound(err) || err == nil && !podtask.Launched(mt.Status.Phase)) && s.writtenLately(a.Request.ID) {
		// This process wrote an update of the task lately, which the cache may not show
		// yet (queued again by a pass over the MesosTask as it was): launched again, the
		// task would run twice. The API server says.
		mt = &mesosv1alpha1.MesosTask{}
		err = indexer.Uncached(s.APIReader, s.Client).Get(ctx, key, mt)
	}
	if apierrors.IsNotFound(err) && (pod.Spec.NodeName == "" || s.wasBoundUnsent(a.Request.ID, pod.Spec.NodeName)) {
		// Not taken yet; or bound by this process, which then sent no launch: the binding
		// records a launch that did not happen.
		mt, err = podtask.NewMesosTask(pod, s.currentCluster(), "")
	}
	if err != nil || mt.Spec.TaskID != a.Request.ID || podtask.Launched(mt.Status.Phase) {
		s.Dequeue(a.Request.ID)
		return nil, nil
	}
	return pod, mt
}

// namespaceTaken says whether the cluster takes the pods of a namespace
// (podtask.NamespaceTaken): a namespace that is gone is taken by none, one the cache
// cannot tell of is given the benefit of the doubt (the Pod reconciler decided). The
// selector is the cache's, as the Pod reconciler, which queues the pod, reads it: the
// scheduler's own copy is set only at the end of the MesosCluster reconciler's next pass,
// and a round before that would take a pod just let in for one kept out, and drop it.
func (s *Scheduler) namespaceTaken(ctx context.Context, name string) bool {
	mc := s.cachedCluster(ctx)
	if mc.Spec.NamespaceSelector == nil {
		return true
	}
	ns := &corev1.Namespace{}
	if err := s.Client.Get(ctx, client.ObjectKey{Name: name}, ns, client.UnsafeDisableDeepCopy); err != nil {
		return !apierrors.IsNotFound(err)
	}
	return podtask.NamespaceTaken(mc, ns)
}

// cachedCluster is the cluster as the cache has it (its own object, to read only), or,
// where the cache cannot tell, as last set (SetCluster).
func (s *Scheduler) cachedCluster(ctx context.Context) *mesosv1alpha1.MesosCluster {
	last := s.currentCluster()
	mc := &mesosv1alpha1.MesosCluster{}
	if err := s.Client.Get(ctx, client.ObjectKey{Name: last.Name}, mc, client.UnsafeDisableDeepCopy); err != nil {
		return last
	}
	return mc
}

// markLaunched records a launch on a pod bound before it was taken
// (podtask.ConditionTaskLaunched): a strategic merge patch of that condition alone. pod
// is the cache's, to read only.
func (s *Scheduler) markLaunched(ctx context.Context, pod *corev1.Pod) error {
	patched := pod.DeepCopy()
	podtask.MarkLaunched(&patched.Status, metav1.Now())
	return s.Client.Status().Patch(ctx, patched, client.StrategicMergeFrom(pod))
}

// bind binds a pod to an agent's Node through the Binding subresource, as kube-scheduler
// does; its event waits for the launch (event).
func (s *Scheduler) bind(ctx context.Context, pod *corev1.Pod, node string) error {
	binding := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target: corev1.ObjectReference{Kind: "Node", Name: node}}
	if err := s.Client.SubResource("binding").Create(ctx, pod, binding); err != nil {
		s.Log.Info("Could not bind the pod; it waits for another offer", "pod", client.ObjectKeyFromObject(pod).String(), "node", node, "error", err.Error())
		return err
	}
	return nil
}

// bindMayBeMade says whether a bind that failed may have bound the pod all the same: its
// answer lost (a timeout, a broken connection, a server error after the write), not a
// refusal. A pod bound already (409: bound by another, a leader before this one, which
// may have launched its task), gone, or a bind refused as invalid or forbidden, was not
// bound by it.
func bindMayBeMade(err error) bool {
	return !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) &&
		!apierrors.IsForbidden(err) && !apierrors.IsBadRequest(err) && !apierrors.IsUnauthorized(err)
}

// noteBoundUnsent remembers that this process bound, or tried to bind, the pod of a task
// to node and sent no launch for it (Scheduler.boundUnsent).
func (s *Scheduler) noteBoundUnsent(taskID, node string) {
	s.mu.Lock()
	s.boundUnsent[taskID] = node
	s.mu.Unlock()
}

// wasBoundUnsent says whether this process bound the pod of a task to node, or tried
// to, and sent no launch for it since.
func (s *Scheduler) wasBoundUnsent(taskID, node string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.boundUnsent[taskID]
	return ok && n == node
}

// noteLaunch remembers a launch of this process until a status write records it, and,
// when the task's MesosTask is not written yet, its pod.
func (s *Scheduler) noteLaunch(taskID string, l podtask.Launch, unwrittenPod *types.NamespacedName) {
	s.mu.Lock()
	s.launches[taskID] = l
	if unwrittenPod != nil {
		s.storeLaterLocked(taskID, *unwrittenPod)
	}
	s.mu.Unlock()
}

// launchOf is what this process knows of a task's launch.
func (s *Scheduler) launchOf(taskID string) (podtask.Launch, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.launches[taskID]
	return l, ok
}

// LaunchUnwritten says whether this process launched a task whose MesosTask does not say so yet.
func (s *Scheduler) LaunchUnwritten(taskID string) bool {
	_, ok := s.launchOf(taskID)
	return ok
}

// markStored records that a launch's MesosTask is written, though its launch is still
// to be filled in by the first update: its pod is remembered a while (writtenOwners).
func (s *Scheduler) markStored(taskID string) {
	s.mu.Lock()
	s.ownerWrittenLocked(taskID)
	s.mu.Unlock()
}

// launchUncertain drops what this process knows of a launch whose ACCEPT failed, but
// its pod: Mesos's answer about the task finds its pod so (ownerOf) while the cache
// does not show the binding yet. Without it a task the master did launch, reported
// TASK_STAGING, was killed as one no pod owns. When it was sent is kept a while too: an
// answer to a reconciliation asked before the ACCEPT reached the master (after a
// subscription) says Mesos does not know the task though the master then ran it, and
// taken for a launch it never ran, that task was launched again beside itself.
func (s *Scheduler) launchUncertain(taskID string) {
	s.mu.Lock()
	if l, ok := s.launches[taskID]; ok {
		s.uncertain[taskID] = l.At.Time
	}
	delete(s.launches, taskID)
	s.mu.Unlock()
}

// uncertainLately says whether a failed ACCEPT of a task was sent less than
// launchInFlight ago; older ones are forgotten.
func (s *Scheduler) uncertainLately(taskID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.uncertain[taskID]
	if ok && time.Since(at) >= launchInFlight {
		delete(s.uncertain, taskID)
		return false
	}
	return ok
}

// forgetLaunch drops what this process knows of a task's launch (it did not happen, or
// its pod went); launchWritten is for one whose update was written.
func (s *Scheduler) forgetLaunch(taskID string) {
	s.mu.Lock()
	delete(s.launches, taskID)
	delete(s.uncertain, taskID)
	s.storedLocked(taskID)
	s.mu.Unlock()
}

// launchNotSent undoes the launches of an ACCEPT the driver did not send, since the
// subscription of its offers ended during the round (framework.ErrSubscriptionEnded):
// Mesos got nothing, so nothing is asked of it. Each task is forgotten as launched and
// stays in the queue; its pod, bound by then, waits for an offer of its agent.
func (s *Scheduler) launchNotSent(ctx context.Context, prepared []*preparedLaunch) {
	s.Log.V(1).Info("Not launching: the subscription of the offers ended", "tasks", len(prepared))
	for _, t := range prepared {
		id := t.info.TaskID.Value
		if t.boundTo != "" {
			s.noteBoundUnsent(id, t.boundTo)
		}
		s.forgetLaunch(id)
		if t.recorded {
			s.relaunch(ctx, client.ObjectKeyFromObject(t.mt), id)
		}
	}
}

// launchFailed handles an ACCEPT that returned an error. The error does not say whether
// the master got the call (a connection that broke after sending it loses only the
// answer), so launching the tasks again could launch them twice. Their pods are bound,
// which records the launch; Mesos is asked about them, and what it never saw goes back
// to the queue (see persist). If asking fails too, it is asked again in launchInFlight,
// and again while that fails (askLater), or by the reconciliation after the next
// subscription.
//
// The offer is declined without a filter: a master that did not get the ACCEPT still
// holds it for this framework, and would offer its resources to no one until it expires.
// (Declining an offer that was used is a no-op.)
//
// Only the queue entries the round launched (seqs) are taken out: an answer of Mesos's
// that came while the ACCEPT was under way may have queued the pod again, and that entry
// stays, as after an ACCEPT that succeeded (dequeueLaunched).
func (s *Scheduler) launchFailed(ctx context.Context, on offerSource, offers []mesos.OfferID, launch []mesos.TaskInfo, seqs map[string]uint64, err error) {
	s.Log.Info("Launch failed; asking Mesos whether the tasks run before launching them again", "tasks", len(launch), "error", err.Error())
	s.metrics.LaunchFailed(len(launch))
	d := on.d
	if err := d.Decline(ctx, on.subscription, offers, 0); err != nil {
		s.Log.V(1).Info("Could not decline the offers of a failed launch", "offers", len(offers), "error", err.Error())
	}
	ask := make(map[string]string, len(launch))
	ids := make([]string, 0, len(launch))
	for _, t := range launch {
		s.dequeueLaunched(t.TaskID.Value, seqs[t.TaskID.Value])
		s.launchUncertain(t.TaskID.Value)
		ask[t.TaskID.Value] = t.AgentID.Value
		ids = append(ids, t.TaskID.Value)
	}
	if err := d.Reconcile(ctx, ask); err != nil {
		s.Log.Info("Could not ask Mesos about the tasks of a failed launch; asking again shortly", "error", err.Error())
		s.askLater(ctx, d, ids)
	}
}

// launchSent forgets that the tasks' pods were bound with no launch sent: their launch
// goes now (an ACCEPT that fails may have reached Mesos; launchNotSent notes them again
// when it surely did not); and any rejection of an earlier launch of their ids.
func (s *Scheduler) launchSent(launch []mesos.TaskInfo) {
	s.mu.Lock()
	for i := range launch {
		delete(s.boundUnsent, launch[i].TaskID.Value)
		// A rejection of an earlier launch of the id is not this one's (launchRejected).
		delete(s.rejectedLaunches, launch[i].TaskID.Value)
	}
	s.mu.Unlock()
}
