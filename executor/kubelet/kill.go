package kubelet

import (
	"math"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sm/k8sm/executor"
)

// Killing a static pod.
//
// The kubelet kills a static pod whose manifest is removed with the pod's
// terminationGracePeriodSeconds: a removal carries no grace period. A graceful deletion
// does, as for an API pod: a manifest rewritten with metadata.deletionTimestamp and
// deletionGracePeriodSeconds is an update of the pod (the manifest names its UID,
// staticPodUID) that has the kubelet kill it with that grace, the grace only ever
// decreasing (calculateEffectiveGracePeriod in pkg/kubelet/pod_workers.go); a pod it
// had not started yet it never starts. So a KILL marks the manifest; once the kubelet
// shows the marks and the pod's containers stopped, or the grace ended (how each ended
// is what the kill reports), the manifest is removed (its removal kills with the same
// grace), and the pod is reported killed once the kubelet's container runtime no longer
// runs it.
//
// A later KILL with a shorter grace shortens the wait, as the Mesos command executor's
// does (the grace counted from the first KILL), and rewrites the marks while the
// kubelet has not taken the first ones. Once the kubelet kills the pod's containers it
// does not shorten that kill (SyncTerminatingPod does not heed the cancellation,
// kubernetes/kubernetes#113606): the pod is then reported killed, if the kubelet has
// not stopped it, killMargin after the shorter grace ended.

// killMargin is how long after a KILL's grace ended the pod is reported killed however
// the kubelet is doing.
const killMargin = 30 * time.Second

// marksWait is how long the kubelet is given to show the deletion marks of a manifest
// before it is removed anyway, when the grace ends sooner: the kubelet reads a changed
// manifest at once, told by inotify.
const marksWait = 2 * time.Second

// Kill marks the pod's manifest for deletion with the grace before it returns; the
// follower removes it once the kubelet took the marks, and reports the pod killed
// once the kubelet's runtime no longer runs it (or the grace and killMargin passed).
// A later Kill whose grace ends sooner, counted from the first, shortens the wait; a
// longer one changes nothing.
func (f *follower) Kill(grace time.Duration) {
	f.mu.Lock()
	now := time.Now()
	switch end := f.killedAt.Add(grace); {
	case f.killedAt.IsZero():
		f.killedAt, f.graceEnd = now, now.Add(grace)
	case end.Before(f.graceEnd):
		f.graceEnd = end
	default:
		f.mu.Unlock()
		return
	}
	f.killed.Store(true)
	f.markManifest(now, f.graceEnd)
	f.mu.Unlock()
	select {
	case f.kill <- struct{}{}:
	default: // run is woken already
	}
}

// killGraceEnd returns when the shortest grace ends.
func (f *follower) killGraceEnd() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.graceEnd
}

// markManifest rewrites the manifest with the deletion marks of a grace ending at
// graceEnd, unless it is gone, another task's, or marked with a grace as short already.
// deletionGracePeriodSeconds is rounded up, as the kubelet counts whole seconds;
// deletionTimestamp is when the grace ends, as the API server sets it.
func (f *follower) markManifest(now, graceEnd time.Time) {
	secs := int64(math.Ceil(graceEnd.Sub(now).Seconds()))
	if secs < 0 {
		secs = 0
	}
	f.rt.files.Lock()
	defer f.rt.files.Unlock()
	if f.removed || (f.marked != nil && *f.marked <= secs) {
		return
	}
	if _, err := os.Stat(f.file); err != nil || f.replaced() {
		return
	}
	m := f.static.DeepCopy()
	at := metav1.NewTime(graceEnd)
	m.DeletionTimestamp, m.DeletionGracePeriodSeconds = &at, &secs
	b, err := marshalManifest(m)
	if err == nil {
		err = writeAtomic(f.file, b)
	}
	if err != nil {
		f.rt.Log.Info("Could not mark the static pod manifest for deletion; removing it, the kubelet stops the pod with its terminationGracePeriodSeconds",
			"manifest", f.file, "error", err.Error())
		return
	}
	f.marked, f.markedAt = &secs, now
}

// killDone reports the pod killed once the kubelet no longer runs it, or once the kill's
// deadline passed; it says whether it did.
func (f *follower) killDone() bool {
	graceEnd := f.killGraceEnd()
	if f.tornDown(graceEnd) {
		f.report(executor.Report{Killed: true, Status: killedStatus(f.lastStatus)})
		return true
	}
	if time.Now().After(graceEnd.Add(killMargin)) {
		f.removeManifest()
		f.report(executor.Report{Killed: true, Status: killedStatus(f.lastStatus),
			Message: "The kubelet had not stopped the pod within its grace period"})
		return true
	}
	return false
}

// tornDown says whether the kubelet's container runtime no longer runs the pod: it is in
// neither /pods nor /runningpods/ (mayRun). A kubelet drops a removed static pod from
// /pods at once, before its containers stop; where /runningpods/ is not served (the
// read-only port has no debugging handlers) the pod is taken as stopped when the grace
// period ends. Any other failure to ask (a timeout, a 5xx) proves nothing: the pod may
// run on, so it is asked again, until the kill's deadline (killDone). A pod /pods never
// listed is no exception: the kubelet may have started it from its manifest before the
// first poll.
func (f *follower) tornDown(graceEnd time.Time) bool {
	f.rt.files.Lock()
	never := !f.written
	if never {
		f.removed = true // killed while another manifest held its name: never written now
	}
	f.rt.files.Unlock()
	if never {
		return true
	}
	kp, err := f.rt.find(f.uid, f.task)
	if kp != nil {
		f.seen, f.lastSeen = kp, time.Now()
		if !unsynced(&kp.Status) {
			// The kill is reported with the containers' last statuses: how each ended.
			f.lastStatus = StatusOf(kp)
		}
	}
	f.settleManifest(kp, err, graceEnd)
	if err != nil || kp != nil {
		return false
	}
	// The pod may have been in the kubelet until /pods last listed it, or, never listed
	// or listed before, until the manifest was removed; but once the kubelet took the
	// marks it starts nothing of the pod (it cancels a sync under way), so not after
	// marksWait more, however long it then took to stop the pod's containers.
	since := f.lastSeen
	if f.removedAt.After(since) {
		since = f.removedAt
	}
	if by := f.tookAt.Add(marksWait); !f.tookAt.IsZero() && by.Before(since) {
		since = by
	}
	runs, err := f.mayRun(since)
	if notServed(err) {
		return time.Now().After(graceEnd)
	}
	if err != nil {
		f.rt.Log.V(1).Info("Cannot ask the kubelet which pods it runs; asking again", "podUID", f.uid, "error", err.Error())
		return false
	}
	return !runs
}

// settleManifest removes a killed pod's manifest once its marks did their work: the
// kubelet shows the pod with them and none of its containers running, or shows no such
// pod (it never read the manifest, and now never starts the pod); or once the kubelet
// had its time to take them and the grace ended (kp and err are the answer of /pods).
//
// The kubelet stops a marked pod's containers as it stops a deleted API pod's, and then
// shows how each ended (its exit code: 0 for a program that ends on SIGTERM, which makes
// a deleted pod Succeeded, as a Job counts it). A removed manifest's pod leaves /pods at
// once, before its containers stop, so it is kept while they run, until the grace ended
// (then the kubelet kills them anyway, and an executor that shuts down has no time to
// wait: killAll). A marked pod the kubelet shows without a status of its own it never
// started, and never will (its pod worker gave it up): there is nothing to wait for.
func (f *follower) settleManifest(kp *corev1.Pod, err error, graceEnd time.Time) {
	if !f.removedAt.IsZero() {
		return
	}
	f.rt.files.Lock()
	marked, by := f.marked, f.markedAt.Add(marksWait)
	f.rt.files.Unlock()
	if graceEnd.After(by) {
		by = graceEnd
	}
	now := time.Now()
	took := kp != nil && marked != nil && kp.DeletionTimestamp != nil &&
		kp.DeletionGracePeriodSeconds != nil && *kp.DeletionGracePeriodSeconds <= *marked
	switch {
	case marked == nil, err == nil && kp == nil:
	case took:
		if f.tookAt.IsZero() {
			f.tookAt = now
		}
		if anyRunning(&kp.Status) && !now.After(graceEnd) {
			return
		}
	case !now.After(by):
		return
	}
	f.removeManifest()
	f.removedAt = now
}
