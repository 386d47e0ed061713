package scheduler

import (
	"context"
	"errors"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/podtask"
)

// persist writes one update to the MesosTask and the pod, on top of earlier updates of
// the task not written yet (in order: see takeUnwritten). The first update of a task
// the cluster launched writes its MesosTask, state and all (podtask.NewMesosTask).
// Updates of tasks no MesosTask or bound pod owns are answered by killing the task.
func (s *Scheduler) persist(ctx context.Context, ts mesos.TaskStatus, earlier ...mesos.TaskStatus) error {
	_, err := s.persistUpdate(ctx, ts, false, time.Time{}, earlier...)
	return err
}

// persistUpdate is persist, but for a task whose MesosTask is not written yet, when
// mayDefer says so: then only the pod's status is written, and deferred says that the
// MesosTask is still to be written (with these updates: see worker.records). received
// is when the update reached this process (zero: not known).
func (s *Scheduler) persistUpdate(ctx context.Context, ts mesos.TaskStatus, mayDefer bool, received time.Time, earlier ...mesos.TaskStatus) (deferred bool, err error) {
	if s.unknownWhileLaunching(ts, received) {
		s.Log.Info("Mesos does not know a task launched moments ago; asking again once its launch has reached Mesos",
			"task", ts.TaskID.Value, "state", ts.GetState().String())
		if d := s.currentDriver(); d != nil {
			s.askLater(ctx, d, []string{ts.TaskID.Value})
		}
		return false, nil
	}
	key, err := s.ownerOf(ctx, ts.TaskID.Value)
	if err != nil {
		return false, err
	}
	var mt *mesosv1alpha1.MesosTask
	if key != nil {
		mt, deferred, err = s.writeUpdate(ctx, *key, ts, earlier, mayDefer)
		if err != nil && mt != nil && mt.ResourceVersion == "" && s.namespaceGoing(ctx, key.Namespace, err) {
			return false, s.withoutTask(ctx, mt, ts)
		}
	}
	// NotFound: the MesosTask went between its read and the write (its pod went, and
	// its finalizer with it), or, for a MesosTask not written yet, its namespace did.
	// Either way nothing owns the task any more.
	if key == nil || errors.Is(err, errNoOwner) || apierrors.IsNotFound(err) {
		s.forgetLaunch(ts.TaskID.Value) // its pod went before any update was written
		return false, s.killUnowned(ctx, ts)
	}
	if err != nil {
		return false, err
	}
	if deferred {
		// The launch stays remembered (its pod, for the next update's owner, and the task,
		// for a reconciliation) until its MesosTask is written.
		return true, s.mirrorToPod(ctx, mt, ts)
	}
	if mt.Status.Phase == mesosv1alpha1.TaskPhasePending && s.launchedSince(ts.TaskID.Value, received) {
		// Mesos's word that it never ran the task came before a launch this process sent
		// while it was being written (from the queue the task was in): it says nothing of
		// that launch, whose own updates follow. The launch stays remembered, and the task
		// is not queued again: launched again, it would run twice.
		s.Log.V(1).Info("Mesos's answer came before the task's launch; waiting for the launch's updates",
			"task", ts.TaskID.Value, "state", ts.GetState().String())
		return false, nil
	}
	s.launchWritten(ts.TaskID.Value)
	if podtask.RunsAfterEnd(&mt.Status, ts.GetState()) {
		return false, s.killEnded(ctx, mt, ts)
	}
	if mt.Status.Phase == mesosv1alpha1.TaskPhasePending {
		return false, s.notRun(ctx, mt, true)
	}
	return false, s.mirrorToPod(ctx, mt, ts)
}

// unknownWhileLaunching says whether an update is Mesos's answer that it does not know a
// task (a reconciliation's, which is also how Mesos answers a KILL of a task it does not
// know) while this process launched the task less than launchInFlight ago. Its pod,
// deleted while its launch was being prepared, had its task killed, and the KILL can
// reach Mesos before the ACCEPT: taken for a launch Mesos never ran, the answer removed
// the pod, and the ACCEPT then started its task without one. It says nothing of the
// launch, as a reconciliation's answer then would not (reconcileTasks leaves such tasks
// out): Mesos is asked again once the launch has reached it. Nor does any master's
// update that says Mesos does not hold the task and came before the launch was sent
// (received). An agent's is written all the same, since it is acknowledged once written
// (persistUpdate keeps the launch it says nothing of).
func (s *Scheduler) unknownWhileLaunching(ts mesos.TaskStatus, received time.Time) bool {
	if !podtask.NotHeld(ts) {
		return false
	}
	if len(ts.UUID) == 0 && s.launchedSince(ts.TaskID.Value, received) {
		return true
	}
	if ts.GetReason() != mesos.REASON_RECONCILIATION {
		return false
	}
	if s.uncertainLately(ts.TaskID.Value) {
		return true
	}
	l, ok := s.launchOf(ts.TaskID.Value)
	return ok && time.Since(l.At.Time) < launchInFlight
}

// launchedSince says whether this process sent a launch of a task after t (a zero t:
// not known) that no update has written yet.
func (s *Scheduler) launchedSince(taskID string, t time.Time) bool {
	if t.IsZero() {
		return false
	}
	l, ok := s.launchOf(taskID)
	return ok && l.At.After(t)
}

// errNoOwner: no MesosTask and no bound pod owns a task.
var errNoOwner = errors.New("no MesosTask or bound pod owns the task")

// ownerOf is the key of a task's MesosTask, or of its bound pod while its MesosTask is
// not written yet; nil when neither is there.
func (s *Scheduler) ownerOf(ctx context.Context, taskID string) (*types.NamespacedName, error) {
	mt, err := s.taskByID(ctx, taskID)
	if err != nil {
		return nil, err
	}
	if mt != nil {
		key := client.ObjectKeyFromObject(mt)
		return &key, nil
	}
	if key, ok := s.launchedPod(taskID); ok {
		return &key, nil
	}
	pod, err := s.podOfTask(ctx, taskID)
	if err != nil || pod == nil {
		return nil, err
	}
	key := client.ObjectKeyFromObject(pod)
	return &key, nil
}

// podOfTask is the bound pod whose task has an id, or nil: the cache's own object, to
// read only.
func (s *Scheduler) podOfTask(ctx context.Context, taskID string) (*corev1.Pod, error) {
	return s.Tasks.BoundPod(ctx, taskID)
}

// taskOf is the MesosTask of key as r has it, or, when none is written yet, the one to
// write for the update's task (unwrittenTask). A MesosTask of that name whose task is
// another (a pod of the same name deleted and made again, as a StatefulSet does, while
// the old pod's task had not reported) is not the update's: errNoOwner. But where the
// pod of that name is bound and its task is the update's, the MesosTask is an earlier
// pod's being let go (recorded by a new leader from the tasks Mesos holds, or a copy of
// the MesosTasks that lagged behind its leader's): the update is the bound pod's, whose
// binding records its launch, and is written once that MesosTask went
// (errEarlierRecord), not answered with a KILL of the running pod's task.
func (s *Scheduler) taskOf(ctx context.Context, r client.Reader, key types.NamespacedName, ts mesos.TaskStatus) (*mesosv1alpha1.MesosTask, error) {
	mt := &mesosv1alpha1.MesosTask{}
	err := r.Get(ctx, key, mt)
	if apierrors.IsNotFound(err) {
		return s.unwrittenTask(ctx, r, key, ts)
	}
	if err == nil && mt.Spec.TaskID != ts.TaskID.Value {
		if s.boundPodsTask(ctx, r, key, ts, types.UID(mt.Spec.PodUID)) {
			s.Log.Info("The MesosTask of the pod's name is an earlier pod's, being let go; writing the update once it went",
				"task", ts.TaskID.Value, "pod", key.String(), "earlierTask", mt.Spec.TaskID)
			return nil, errEarlierRecord
		}
		return nil, errNoOwner
	}
	return mt, err
}

// errEarlierRecord: the update's task is its bound pod's, and the MesosTask of the
// pod's name an earlier pod's (taskOf); written again later.
var errEarlierRecord = errors.New("the MesosTask of the pod's name is an earlier pod's, being let go")

// boundPodsTask says whether the pod of key is bound (or was just launched by this
// process) with the update's task, and is not the pod earlierUID names.
func (s *Scheduler) boundPodsTask(ctx context.Context, r client.Reader, key types.NamespacedName, ts mesos.TaskStatus, earlierUID types.UID) bool {
	pod := &corev1.Pod{}
	if err := r.Get(ctx, key, pod, client.UnsafeDisableDeepCopy); err != nil { // read only
		return false
	}
	return s.podOwnsTask(pod, ts) && pod.UID != earlierUID
}

// podOwnsTask says whether pod is bound with ts's task: its binding names the task, or
// this process launched it just now and the cache has not seen the binding yet.
func (s *Scheduler) podOwnsTask(pod *corev1.Pod, ts mesos.TaskStatus) bool {
	if podtask.TaskIDFor(pod) != ts.TaskID.Value {
		return false
	}
	_, launchedHere := s.launchedPod(ts.TaskID.Value)
	return pod.Spec.NodeName != "" || launchedHere
}

// unwrittenTask is the MesosTask, not yet written, of a task the cluster launched for the
// bound pod of key (the pod's binding recorded the launch): errNoOwner when the pod is
// not that task's, or not bound.
func (s *Scheduler) unwrittenTask(ctx context.Context, r client.Reader, key types.NamespacedName, ts mesos.TaskStatus) (*mesosv1alpha1.MesosTask, error) {
	pod := &corev1.Pod{}
	if err := r.Get(ctx, key, pod, client.UnsafeDisableDeepCopy); err != nil { // read only
		if apierrors.IsNotFound(err) {
			return nil, errNoOwner
		}
		return nil, err
	}
	if !s.podOwnsTask(pod, ts) {
		return nil, errNoOwner
	}
	mt, err := podtask.NewMesosTask(pod, s.currentCluster(), "")
	if err != nil {
		return nil, errNoOwner
	}
	// The executor the task was launched with, which the cluster may have changed since.
	if l, ok := s.launchOf(ts.TaskID.Value); ok && l.ExecutorID != "" {
		mt.Spec.ExecutorID = l.ExecutorID
	} else if ts.ExecutorID != nil && ts.ExecutorID.Value != "" {
		mt.Spec.ExecutorID = ts.ExecutorID.Value
	}
	return mt, nil
}

// killUnowned kills a task that no MesosTask owns, unless it ended or a KILL cannot
// reach it (podtask.KillReaches: Mesos would answer with the same state again, and this
// would kill again, in a loop); such a task is killed when Mesos reports it running.
func (s *Scheduler) killUnowned(ctx context.Context, ts mesos.TaskStatus) error {
	if !podtask.KillReaches(ts.GetState()) || s.currentDriver() == nil {
		return nil
	}
	s.Log.Info("Killing a task no MesosTask owns", "task", ts.TaskID.Value, "state", ts.GetState().String())
	return s.killTask(ctx, ts)
}

// killTask kills the task of an update, on the update's agent.
func (s *Scheduler) killTask(ctx context.Context, ts mesos.TaskStatus) error {
	d := s.currentDriver()
	if d == nil {
		return errNoDriver
	}
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

// writeUpdate applies an update, after the earlier ones not written yet, to a
// MesosTask's status (podtask.ApplyUpdate) and writes it when that changed anything,
// reading again after a conflict; a MesosTask not written yet is created with it, or,
// when mayDefer says so, not (deferred): the MesosTask returned is what it would be.
// Only a launch of this process whose MesosTask it has not written is deferred: one it
// wrote moments ago (a STARTING held past its grace, or the launch alone) may not be in
// the cache yet, and the update must land on it before it is acknowledged.
func (s *Scheduler) writeUpdate(ctx context.Context, key types.NamespacedName, ts mesos.TaskStatus, earlier []mesos.TaskStatus, mayDefer bool) (mt *mesosv1alpha1.MesosTask, deferred bool, err error) {
	attempt := 0
	err = retry.OnError(retry.DefaultRetry, conflicted, func() error {
		var err error
		mt, err = s.taskOf(ctx, s.reader(attempt), key, ts)
		attempt++
		if err != nil {
			return err
		}
		s.fromPod(ctx, mt)
		now, changed := metav1.Now(), false
		for _, e := range earlier {
			changed = podtask.ApplyUpdate(&mt.Status, e, now) || changed
		}
		changed = podtask.ApplyUpdate(&mt.Status, ts, now) || changed
		if changed {
			s.stoppedInSuccess(ctx, mt, ts.Data)
		}
		if podtask.Launched(mt.Status.Phase) && s.fillLaunch(ctx, mt) {
			changed = true
		}
		if !changed && mt.ResourceVersion != "" {
			return nil
		}
		if mayDefer && mt.ResourceVersion == "" && s.unwrittenHere(ts.TaskID.Value) && s.nameGenerated(ctx, key) {
			deferred = true
			return nil
		}
		creating := mt.ResourceVersion == ""
		err = s.saveTask(ctx, mt)
		if err != nil && creating {
			// The create may have been made, its answer lost, and the cache not show it
			// yet: a later update may not take the MesosTask for unwritten and be
			// deferred, acknowledged while the MesosTask says less.
			s.markStored(ts.TaskID.Value)
		}
		return err
	})
	return mt, deferred, err
}

// stoppedInSuccess gives the MesosTask of a deleted pod whose task was killed the phase
// its pod ends with (podtask.MirrorStoppedPod), from the cache's pod.
func (s *Scheduler) stoppedInSuccess(ctx context.Context, mt *mesosv1alpha1.MesosTask, data []byte) bool {
	if mt.Status.Phase != mesosv1alpha1.TaskPhaseKilled {
		return false
	}
	pod := &corev1.Pod{}
	if s.Client.Get(ctx, client.ObjectKeyFromObject(mt), pod, client.UnsafeDisableDeepCopy) != nil || pod.UID != types.UID(mt.Spec.PodUID) {
		return false
	}
	return podtask.MirrorStoppedPod(&mt.Status, pod, data)
}

// fromPod fills a MesosTask that records no update of a task this process did not
// launch (an earlier manager's, whose record is not written yet, or gone) with what its
// pod says of the task (podtask.FromPod), before Mesos's update is applied to it.
func (s *Scheduler) fromPod(ctx context.Context, mt *mesosv1alpha1.MesosTask) {
	if mt.Status.MesosState != "" {
		return
	}
	if _, launched := s.launchOf(mt.Spec.TaskID); launched {
		return
	}
	pod := &corev1.Pod{}
	if s.Client.Get(ctx, client.ObjectKeyFromObject(mt), pod, client.UnsafeDisableDeepCopy) == nil && pod.UID == types.UID(mt.Spec.PodUID) {
		podtask.FromPod(&mt.Status, pod)
	}
}

// conflicted says whether a write lost to another: a newer version, or a MesosTask
// created meanwhile (the cache had not seen it). It is tried again, reading from the
// API server.
func conflicted(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }

// nameGenerated says whether the pod of key had its name generated (metadata.generateName),
// as the cache has it: its owner cannot make it again under that name (records.go).
func (s *Scheduler) nameGenerated(ctx context.Context, key types.NamespacedName) bool {
	pod := &corev1.Pod{}
	if err := s.Client.Get(ctx, key, pod, client.UnsafeDisableDeepCopy); err != nil {
		return false
	}
	return pod.GenerateName != ""
}

// saveTask writes a MesosTask, status and all: it creates a new one, and updates another
// from the version read (MesosTasks have no status subresource: see the type). It is an
// Update, which carries that version, so
// a write never lands over a state it did not see (and the generation it makes is
// known: podtask.StampGeneration); and it costs the API server much less than a merge
// patch of a custom resource.
func (s *Scheduler) saveTask(ctx context.Context, mt *mesosv1alpha1.MesosTask) error {
	podtask.StampGeneration(mt)
	if mt.ResourceVersion == "" {
		return s.Client.Create(ctx, mt)
	}
	return s.Client.Update(ctx, mt)
}

// notRun handles a task Mesos never ran: back to the queue (when requeue says so), or,
// if its pod is being deleted, the pod goes at once, Failed, as for a pod never launched
// (RemoveEndedPod).
func (s *Scheduler) notRun(ctx context.Context, mt *mesosv1alpha1.MesosTask, requeue bool) error {
	attempt := 0
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod := &corev1.Pod{}
		if err := s.reader(attempt).Get(ctx, client.ObjectKeyFromObject(mt), pod); err != nil || pod.UID != types.UID(mt.Spec.PodUID) {
			return nil
		}
		attempt++
		if pod.DeletionTimestamp.IsZero() {
			if requeue {
				s.Enqueue(ctx, mt, pod)
			}
			return nil
		}
		return RemoveEndedPod(ctx, s.Client, pod, podtask.FinalPodStatus(pod, &mt.Status, nil))
	})
	return client.IgnoreNotFound(err)
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
		if s.Client.Get(ctx, client.ObjectKeyFromObject(mt), pod, client.UnsafeDisableDeepCopy) == nil && pod.UID == types.UID(mt.Spec.PodUID) && pod.Spec.NodeName != "" {
			l.AgentID, l.Hostname = s.agentOfNode(ctx, pod.Spec.NodeName)
		}
	}
	return podtask.FillLaunch(&mt.Status, l, mt.Generation)
}

// reader is where an attempt to write reads the object: the cache first, then, after a
// conflict (the cache was behind the write before), the API server.
func (s *Scheduler) reader(attempt int) client.Reader {
	if attempt > 0 {
		return indexer.Uncached(s.APIReader, s.Client)
	}
	return s.Client
}

// relaunch puts a task whose launch did not happen back to Pending.
func (s *Scheduler) relaunch(ctx context.Context, key types.NamespacedName, taskID string) {
	attempt := 0
	_ = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		mt, err := taskNamed(ctx, s.reader(attempt), key, taskID)
		if err != nil {
			return client.IgnoreNotFound(err)
		}
		attempt++
		podtask.SetNotLaunched(&mt.Status)
		return s.saveTask(ctx, mt)
	})
}

// failTask records a task that cannot be launched at all (its pod cannot be translated):
// on its MesosTask, if one was written, and on the pod.
func (s *Scheduler) failTask(ctx context.Context, key types.NamespacedName, taskID string, err error) {
	s.Log.Info("Cannot launch the pod", "pod", key.String(), "error", err.Error())
	s.Dequeue(taskID)
	var mt *mesosv1alpha1.MesosTask
	attempt := 0
	saveErr := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var getErr error
		mt, getErr = taskNamed(ctx, s.reader(attempt), key, taskID)
		attempt++
		if apierrors.IsNotFound(getErr) {
			// None written, or another pod's of the same name, which is left alone: only
			// the pod, if it is still the task's, is told (queuedTask).
			mt = s.queuedTask(ctx, key, taskID)
			podtask.SetInvalid(&mt.Status, err)
			return nil
		}
		if getErr != nil {
			return getErr
		}
		podtask.SetInvalid(&mt.Status, err)
		return s.saveTask(ctx, mt)
	})
	if saveErr == nil && mt != nil {
		_ = s.mirrorToPod(ctx, mt, mesos.TaskStatus{}) // the pod fails with the same words
	}
}

// queuedTask stands for the MesosTask, never written, of a queued pod: what
// mirrorToPod needs to write the pod's status.
func (s *Scheduler) queuedTask(ctx context.Context, key types.NamespacedName, taskID string) *mesosv1alpha1.MesosTask {
	mt := &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
		Spec: mesosv1alpha1.MesosTaskSpec{ClusterRef: s.clusterName(), TaskID: taskID}}
	pod := &corev1.Pod{}
	if s.Client.Get(ctx, key, pod) == nil && podtask.TaskIDFor(pod) == taskID {
		mt.Spec.PodUID = string(pod.UID)
	}
	return mt
}

// markUnschedulable tells the MesosTask and the pod of a queued task why no offer fits,
// when that changed; a MesosTask or pod of the same name whose task is another is left
// alone.
func (s *Scheduler) markUnschedulable(ctx context.Context, key types.NamespacedName, taskID, why string) {
	attempt := 0
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		mt, err := taskNamed(ctx, s.reader(attempt), key, taskID)
		attempt++
		if apierrors.IsNotFound(err) {
			return nil // queued, its MesosTask not written (or another's): the pod says it
		}
		if err != nil {
			return err
		}
		if podtask.Launched(mt.Status.Phase) || !podtask.SetUnschedulable(&mt.Status, why, mt.Generation) {
			return errUnchanged
		}
		return s.saveTask(ctx, mt)
	})
	if err != nil {
		return
	}
	pod := &corev1.Pod{}
	if err := s.Client.Get(ctx, key, pod); err != nil || podtask.TaskIDFor(pod) != taskID {
		return
	}
	if pod.Spec.NodeName != "" {
		// Bound before it was taken: it is scheduled, and waits for its agent's offer.
		s.Recorder.Eventf(pod, nil, corev1.EventTypeWarning, "WaitingForOffer", "Launch", "%s", why)
		return
	}
	_ = WritePodUnschedulable(ctx, s.Client, s.Recorder, pod, why)
}

// taskNamed reads the MesosTask of key through r, taking one of another task (an
// earlier or later pod of the same name) for none: NotFound.
func taskNamed(ctx context.Context, r client.Reader, key types.NamespacedName, taskID string) (*mesosv1alpha1.MesosTask, error) {
	mt := &mesosv1alpha1.MesosTask{}
	if err := r.Get(ctx, key, mt); err != nil {
		return nil, err
	}
	if mt.Spec.TaskID != taskID {
		return nil, apierrors.NewNotFound(mesosv1alpha1.GroupVersion.WithResource("mesostasks").GroupResource(), key.Name)
	}
	return mt, nil
}

// errUnchanged ends a write that found nothing to write.
var errUnchanged = errors.New("nothing to write")
