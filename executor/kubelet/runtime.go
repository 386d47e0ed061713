package kubelet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/transport"

	"github.com/k8sm/k8sm/executor"
)

// Runtime runs pods as static pods of the agent's kubelet.
type Runtime struct {
	// ManifestDir is the kubelet's staticPodPath.
	ManifestDir string
	// URL is the kubelet's pod API: its read-only port (http://127.0.0.1:10255) or its
	// authenticated port (https://127.0.0.1:10250) with Token.
	URL string
	// Token is a bearer token for the authenticated port; empty for none.
	Token string
	// TokenFile, when set, holds the bearer token instead, read again as it may change
	// (token.go).
	TokenFile string
	// Client makes the requests (TLS settings for https); default a client with a 10s timeout.
	Client *http.Client
	// PollInterval is how often the kubelet is asked about the pods. Default 1s.
	PollInterval time.Duration
	// AppearTimeout is how long the kubelet may take to show a new static pod before the
	// task fails. Default 2m.
	AppearTimeout time.Duration
	// GoneAfter is how long a pod the kubelet showed may be missing from its /pods
	// before it is taken for gone, and then only when the kubelet's container runtime
	// runs none of it: a kubelet that restarts lists no pods until it has read its
	// manifests again. Default 30s.
	GoneAfter time.Duration
	// Log receives the runtime's log lines.
	Log logr.Logger
	// Done, when set and closed, stops the following of every pod, which otherwise
	// polls the kubelet until its pod is over (the executor's end stops it anyway; a
	// test's end must).
	Done <-chan struct{}
	// FrameworkID, ExecutorID and Sandbox (executor.RunID) name this executor run.
	// Every manifest carries them, and Sweep removes the manifests of ended runs.
	FrameworkID, ExecutorID, Sandbox string

	// pods are the pods started, as the API server names them (provider.go).
	pods registry
	// files serializes the writes and removals of manifests: a task's follower checks
	// that the manifest is still its task's before it touches it, while a new task of
	// the same pod may be writing its own.
	files sync.Mutex

	// The watchdog that removes this run's manifests once the executor is gone, and the
	// write end of its pipe (watchdog.go).
	watchdogOnce sync.Once
	keepAlive    *os.File

	// The client that sends the token, and TokenFile's token source (token.go).
	clientOnce, tokenOnce sync.Once
	client                *http.Client
	tokens                transport.ResettableTokenSource
}

// Supports says whether a static pod can have the volume.
func (r *Runtime) Supports(v *corev1.Volume) bool { return Supported(v) }

// Start writes the pod's static pod manifest, marked with this executor run, and
// follows the pod in the kubelet. The manifest is named after the pod's UID, so a new
// task of the same pod replaces the old one's manifest; and the kubelet starts no
// static pod while one of the same name and namespace has not terminated (pkg/kubelet/
// pod_workers.go: allowStaticPodStart), so the new pod never runs beside the old.
// A pod of another UID under the name of one whose manifest is still there (deleted and
// created again) waits for that manifest to go (holdsName). The pod is recorded, with
// the statuses reported, for the kubelet API (provider.go).
func (r *Runtime) Start(pod *corev1.Pod, sandbox string, report func(executor.Report)) (executor.Handle, error) {
	marked := pod.DeepCopy()
	if marked.Annotations == nil {
		marked.Annotations = map[string]string{}
	}
	for k, v := range map[string]string{AnnotationFrameworkID: r.FrameworkID, AnnotationExecutorID: r.ExecutorID, AnnotationExecutorSandbox: r.Sandbox} {
		if v != "" {
			marked.Annotations[k] = v
		}
	}
	static, err := staticPodOf(marked)
	if err != nil {
		return nil, err
	}
	r.ensureWatchdog()
	m, err := marshalManifest(static)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(r.ManifestDir, ManifestFile(pod.UID))
	f := &follower{rt: r, uid: string(pod.UID), namespace: static.Namespace, name: static.Name, task: pod.Annotations[AnnotationTaskID],
		file: file, manifest: m, static: static, sandbox: sandbox, kill: make(chan struct{}, 1)}
	r.files.Lock()
	holder, err := f.writeManifestLocked()
	r.files.Unlock()
	if err != nil {
		return nil, fmt.Errorf("writing the static pod manifest: %w", err)
	}
	if holder != "" {
		r.Log.Info("Another static pod manifest holds the pod's name; the pod's is written once it is gone", "podUID", pod.UID,
			"pod", static.Namespace+"/"+static.Name, "manifest", file, "holder", holder)
	}
	rec := r.pods.register(pod, sandbox, r.Log)
	f.report = func(rep executor.Report) {
		rec.update(rep)
		report(rep)
	}
	go f.run()
	return f, nil
}

func (r *Runtime) interval() time.Duration {
	if r.PollInterval > 0 {
		return r.PollInterval
	}
	return time.Second
}

func (r *Runtime) goneAfter() time.Duration {
	if r.GoneAfter > 0 {
		return r.GoneAfter
	}
	return 30 * time.Second
}

func (r *Runtime) appearTimeout() time.Duration {
	if r.AppearTimeout > 0 {
		return r.AppearTimeout
	}
	return 2 * time.Minute
}

// follower follows one static pod until it ends or is killed.
type follower struct {
	rt  *Runtime
	uid string
	// namespace and name are the static pod's in its manifest; the kubelet adds its
	// node name to the name.
	namespace, name string
	task            string // the Mesos task; "" when the pod did not say
	file            string
	// manifest is what the follower writes into file (writeManifestLocked).
	manifest []byte
	// static is the static pod the manifest holds, which a KILL marks for deletion.
	static *corev1.Pod
	// sandbox is the pod's sandbox, where the logs of an ended pod are kept ("": none).
	sandbox string
	report  func(executor.Report)
	// kill wakes run when a KILL came, or a later one shortened the grace.
	kill chan struct{}
	// killed is set by the first KILL: a pod that leaves the kubelet from then on is
	// the kill's doing, not a failure.
	killed atomic.Bool

	// mu guards killedAt and graceEnd, when the first KILL came and when the shortest
	// grace ends (kill.go).
	mu                 sync.Mutex
	killedAt, graceEnd time.Time

	// The manifest's state, guarded by the runtime's files lock: whether it was written
	// (not yet while another manifest holds the pod's name), the deletion marks last
	// written into it (nil: none) and when, and whether the follower is done with it
	// (removed, or left to the task that replaced it): it is never written again.
	written  bool
	marked   *int64
	markedAt time.Time
	removed  bool
	// holderEnds is when the kill of the manifest that holds the pod's name (while
	// another does) ends its grace, zero when none marked it.
	holderEnds time.Time

	// The rest is run's goroutine's only.
	// seen is the kubelet's pod as /pods last listed it (nil: never), lastSeen when.
	seen     *corev1.Pod
	lastSeen time.Time
	// missingSince is when /pods first answered without the pod it had listed (zero:
	// it lists it).
	missingSince time.Time
	// last is the status last reported (JSON, and as it was).
	last       string
	lastStatus corev1.PodStatus
	// failures counts the requests to /pods that failed in a row.
	failures int
	// removedAt is when the kill removed the manifest (zero: not yet), tookAt when /pods
	// first showed the kill's marks taken.
	removedAt, tookAt time.Time
	// endedAt is when /pods first showed the pod ended (zero: not yet; ended.go).
	endedAt time.Time
}

// runningPodsAge is how old the kubelet's answer to /runningpods/ may be: it comes from
// its runtime cache, refreshed when older than runtimeCacheRefreshPeriod, 3 s
// (pkg/kubelet/kubelet.go: housekeepingPeriod + housekeepingWarningDuration), plus a
// margin. A pod that started less than that before the answer may be missing from it
// though it runs.
const runningPodsAge = 3500 * time.Millisecond

// replaced says whether the pod's manifest now belongs to another task: the same pod
// launched again by a new task, which the kubelet runs instead.
func (f *follower) replaced() bool {
	a, err := manifestAnnotations(f.file)
	return err == nil && f.task != "" && a[AnnotationTaskID] != "" && a[AnnotationTaskID] != f.task
}

// removeManifest removes the pod's manifest, unless another task's replaced it; the
// follower never writes it again.
func (f *follower) removeManifest() {
	f.rt.files.Lock()
	defer f.rt.files.Unlock()
	f.removed = true
	if f.replaced() {
		return
	}
	if err := os.Remove(f.file); err != nil && !os.IsNotExist(err) {
		f.rt.Log.Info("Could not remove the static pod manifest", "manifest", f.file, "error", err.Error())
	}
}

func (f *follower) run() {
	t := time.NewTicker(f.rt.interval())
	defer t.Stop()
	appearBy := time.Now().Add(f.rt.appearTimeout())
	written := f.isWritten()
	for {
		select {
		case <-f.kill:
		case <-t.C:
		case <-f.rt.Done:
			return
		}
		if f.killed.Load() {
			if f.killDone() {
				return
			}
			continue
		}
		if !written {
			var over bool
			if written, over = f.writeWhenFree(appearBy); over {
				return
			}
			if written {
				// The kubelet's time to show the pod counts from its manifest.
				appearBy = time.Now().Add(f.rt.appearTimeout())
			}
			continue
		}
		if f.poll(appearBy) {
			return
		}
	}
}

func (f *follower) isWritten() bool {
	f.rt.files.Lock()
	defer f.rt.files.Unlock()
	return f.written
}

// writeWhenFree writes the manifest once no other manifest holds the pod's name; it
// says whether it did, and whether the pod is over for the follower: it fails when the
// name was not free by giveUpBy, or the manifest could not be written.
func (f *follower) writeWhenFree(giveUpBy time.Time) (written, over bool) {
	f.rt.files.Lock()
	holder, err := f.writeManifestLocked()
	written = f.written
	// A manifest a kill marked goes once its pod's containers stopped, which its grace
	// bounds: it is waited for that long.
	if ends := f.holderEnds.Add(killMargin); holder != "" && ends.After(giveUpBy) {
		giveUpBy = ends
	}
	if err != nil || (holder != "" && time.Now().After(giveUpBy)) {
		f.removed = true // never written now
	}
	f.rt.files.Unlock()
	var msg string
	switch {
	case err != nil:
		msg = fmt.Sprintf("Could not write the static pod manifest %s: %v", f.file, err)
	case holder != "" && time.Now().After(giveUpBy):
		msg = fmt.Sprintf("The static pod manifest %s has held the pod's name (%s/%s) for %s, and the kubelet runs one static pod of a name at a time: the pod's manifest %s was not written",
			holder, f.namespace, f.name, f.rt.appearTimeout(), f.file)
	default:
		return written, false
	}
	f.report(executor.Report{Status: failedStatus(f.lastStatus, msg), Message: msg})
	return false, true
}

// poll asks the kubelet about the pod and reports what changed; it says whether the pod
// is over for the follower.
func (f *follower) poll(appearBy time.Time) bool {
	kp, err := f.rt.find(f.uid, f.task)
	if err != nil {
		return f.unreachable(err, appearBy)
	}
	f.failures = 0
	if kp == nil {
		return f.missing(appearBy)
	}
	return f.follow(kp)
}

// unreachable handles a failure to ask the kubelet's /pods. A pod the kubelet never
// showed fails when the kubelet has not answered by appearBy, as one it does not show
// does: the manifest is removed, so that the kubelet does not start it later.
func (f *follower) unreachable(err error, appearBy time.Time) bool {
	f.failures++
	if f.failures == 1 || f.failures%60 == 0 {
		f.rt.Log.Info("Cannot reach the kubelet's pod API; trying again", "podUID", f.uid, "manifest", f.file, "url", f.rt.URL, "error", err.Error())
	}
	if f.seen != nil || f.killed.Load() || !time.Now().After(appearBy) {
		return false
	}
	f.removeManifest()
	msg := fmt.Sprintf("The kubelet at %s did not answer within %s, so the static pod %s was removed: %v", f.rt.URL, f.rt.appearTimeout(), f.file, err)
	f.report(executor.Report{Status: failedStatus(f.lastStatus, msg), Message: msg})
	return true
}

// missing handles an answer of /pods without the pod.
func (f *follower) missing(appearBy time.Time) bool {
	switch {
	case f.killed.Load():
		return false // the kill, taken next round, reports it
	case f.seen != nil:
		return f.gone()
	case time.Now().After(appearBy):
		f.removeManifest()
		msg := fmt.Sprintf("The kubelet at %s did not run the static pod %s within %s: is %s its staticPodPath?", f.rt.URL, f.file, f.rt.appearTimeout(), f.rt.ManifestDir)
		f.report(executor.Report{Status: failedStatus(f.lastStatus, msg), Message: msg})
		return true
	}
	return false
}

// gone says whether the pod /pods listed, and lists no more, left the kubelet, and then
// reports it failed. A kubelet that restarts serves /pods before it has read its
// manifests again, answering with no pods for a while, though the pods run on: the pod
// is taken for gone only when /pods has not listed it for GoneAfter and the kubelet's
// container runtime runs none of it (where /runningpods/ is not served, after GoneAfter
// alone). Until then its manifest is left alone: removed, the kubelet would kill it.
func (f *follower) gone() bool {
	now := time.Now()
	if f.missingSince.IsZero() {
		f.missingSince = now
		f.rt.Log.V(1).Info("The kubelet's pod API lists the pod no more; waiting to see whether it left", "podUID", f.uid, "manifest", f.file)
	}
	if now.Sub(f.missingSince) < f.rt.goneAfter() {
		return false
	}
	runs, err := f.mayRun(f.lastSeen)
	switch {
	case notServed(err):
	case err != nil:
		f.rt.Log.V(1).Info("Cannot ask the kubelet which pods it runs; asking again", "podUID", f.uid, "error", err.Error())
		return false
	case runs:
		return false
	}
	msg := "The pod left the kubelet (its static pod manifest was removed)"
	if f.replaced() {
		msg = "The pod left the kubelet: a new task of the same pod replaced it"
	}
	f.removeManifest()
	f.report(executor.Report{Status: failedStatus(f.lastStatus, msg), Message: msg})
	return true
}

// follow reports the kubelet's pod's status when it changed; it says whether the pod is
// over.
func (f *follower) follow(kp *corev1.Pod) bool {
	f.seen, f.lastSeen, f.missingSince = kp, time.Now(), time.Time{}
	if unsynced(&kp.Status) && f.lastStatus.Phase != "" {
		// A kubelet that restarted lists its pods before it has their status again:
		// the last one stands (a running pod does not go back to starting).
		return false
	}
	st := StatusOf(kp)
	ended := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
	if ended && !f.stopped(kp) {
		// Reported ended once the kubelet runs nothing more of it; not ready meanwhile.
		f.reportChanged(endingStatus(st, f.lastStatus.Phase, f.endedAt))
		return false
	}
	f.reportChanged(st)
	if ended {
		// Over: the kubelet removes its containers, with their logs, once the
		// manifest is gone; their logs are kept first.
		f.saveLogs(kp)
		f.removeManifest()
		return true
	}
	return false
}

// unsynced says whether a status of /pods is none the kubelet made: that of a static
// pod it has not synced since it read its manifest, which is the manifest's, Pending
// (pkg/kubelet/config/common.go: applyDefaults) and nothing else, as /pods shows a
// static pod's status only once the kubelet's status manager has one. One the kubelet
// made has its conditions (PodScheduled always); one of a pod it rejected is Failed.
func unsynced(st *corev1.PodStatus) bool {
	return (st.Phase == "" || st.Phase == corev1.PodPending) && len(st.Conditions) == 0 && st.StartTime == nil &&
		len(st.InitContainerStatuses) == 0 && len(st.ContainerStatuses) == 0 && len(st.EphemeralContainerStatuses) == 0
}

// reportChanged reports a status unless it is the one reported last.
func (f *follower) reportChanged(st corev1.PodStatus) {
	b, _ := json.Marshal(st)
	if string(b) == f.last {
		return
	}
	f.last, f.lastStatus = string(b), st
	f.report(executor.Report{Status: st, Message: st.Message})
}

// mayRun says whether the kubelet's container runtime may run the pod: /runningpods/
// lists it, or answered from a cache that may be older than since (runningPodsAge),
// a time after which the pod started nothing new: the last time it is known to have
// been in the kubelet, or to have run. It fails when the kubelet does not answer
// (notServed: it does not serve /runningpods/).
func (f *follower) mayRun(since time.Time) (bool, error) {
	asked := time.Now()
	running, err := f.rt.runningPods()
	if err != nil {
		return true, err
	}
	for i := range running {
		if f.isOurs(&running[i]) {
			return true, nil
		}
	}
	return asked.Sub(since) <= runningPodsAge, nil
}

// isOurs says whether a pod of /runningpods/, which carries no annotations, is the
// follower's, by its UID: the one the manifest names (staticPodUID; the kubelet keeps a
// manifest's UID, pkg/kubelet/config/common.go: applyDefaults), so known also when
// /pods never listed the pod, or the one /pods listed. Never by name: the kubelet
// names it <name>-<its node name>, as it names the pod of a new task of the same pod,
// or of a pod deleted and created again under the name; and the name of another pod
// (web-1-<node>) may begin as this one's (web-).
func (f *follower) isOurs(p *corev1.Pod) bool {
	return p.UID == f.static.UID || (f.seen != nil && p.UID == f.seen.UID)
}

// find returns the kubelet's static pod of a pod UID, run for task when it is not ""
// (isStaticPodOf), or nil when it has none.
func (r *Runtime) find(uid, task string) (*corev1.Pod, error) {
	return r.findContext(context.Background(), uid, task)
}

// findContext is find, the request bound to ctx.
func (r *Runtime) findContext(ctx context.Context, uid, task string) (*corev1.Pod, error) {
	var l corev1.PodList
	if err := r.getContext(ctx, "/pods", &l); err != nil {
		return nil, err
	}
	for i := range l.Items {
		if isStaticPodOf(&l.Items[i], uid, task) {
			return &l.Items[i], nil
		}
	}
	return nil, nil
}

// runningPods lists the pods the kubelet's container runtime runs.
func (r *Runtime) runningPods() ([]corev1.Pod, error) {
	var l corev1.PodList
	if err := r.get("/runningpods/", &l); err != nil {
		return nil, err
	}
	return l.Items, nil
}

func (r *Runtime) get(path string, into any) error {
	return r.getContext(context.Background(), path, into)
}

// getContext decodes the JSON answer of GET path.
func (r *Runtime) getContext(ctx context.Context, path string, into any) error {
	req, err := r.newRequest(ctx, path, nil)
	if err != nil {
		return err
	}
	resp, err := r.httpClient().Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &statusError{path: path, status: resp.Status, code: resp.StatusCode, msg: strings.TrimSpace(string(b))}
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

// statusError is the kubelet's answer to a GET that was not 200.
type statusError struct {
	path, status string
	code         int
	msg          string
}

func (e *statusError) Error() string {
	if e.msg != "" {
		return fmt.Sprintf("GET %s: %s: %s", e.path, e.status, e.msg)
	}
	return fmt.Sprintf("GET %s: %s", e.path, e.status)
}

// notServed says whether err is the kubelet saying it does not serve the path: 404, or
// 405, as a kubelet with its debugging handlers disabled answers them.
func notServed(err error) bool {
	var se *statusError
	return errors.As(err, &se) && (se.code == http.StatusNotFound || se.code == http.StatusMethodNotAllowed)
}

// StatusOf is the status to report for the kubelet's pod: the kubelet's own, which has
// everything a person looks at (phase, conditions, container states, restarts, IPs).
func StatusOf(kp *corev1.Pod) corev1.PodStatus {
	st := *kp.Status.DeepCopy()
	if st.Phase == "" {
		st.Phase = corev1.PodPending
	}
	return st
}

// failedStatus is a pod status that says the pod failed, and why.
func failedStatus(last corev1.PodStatus, msg string) corev1.PodStatus {
	st := *last.DeepCopy()
	st.Phase, st.Message = corev1.PodFailed, msg
	return st
}

// killedStatus is the last status with every container that was running terminated.
func killedStatus(last corev1.PodStatus) corev1.PodStatus {
	st := *last.DeepCopy()
	st.Phase = corev1.PodFailed
	for _, cs := range [][]corev1.ContainerStatus{st.InitContainerStatuses, st.ContainerStatuses} {
		for i := range cs {
			if cs[i].State.Running != nil || cs[i].State.Waiting != nil {
				cs[i].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Killed", ExitCode: 137}}
				cs[i].Ready = false
			}
		}
	}
	for i := range st.Conditions {
		if st.Conditions[i].Type == corev1.PodReady || st.Conditions[i].Type == corev1.ContainersReady {
			st.Conditions[i].Status = corev1.ConditionFalse
		}
	}
	return st
}
