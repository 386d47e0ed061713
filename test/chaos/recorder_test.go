package chaos

import (
	"context"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/mesossim"
)

// The labels k8sm puts on a task (internal/podtask), read here as Mesos shows them.
const (
	labelPodNamespace = "k8sm.io/pod-namespace"
	labelPodName      = "k8sm.io/pod-name"
	labelPodUID       = "k8sm.io/pod-uid"
)

// podRef is the pod a task runs, from its labels.
type podRef struct {
	namespace, name string
	uid             types.UID
}

func (p podRef) String() string { return p.namespace + "/" + p.name }

func podRefOf(labels *mesos.Labels) podRef {
	var ref podRef
	for _, l := range labels.GetLabels() {
		switch l.Key {
		case labelPodNamespace:
			ref.namespace = l.GetValue()
		case labelPodName:
			ref.name = l.GetValue()
		case labelPodUID:
			ref.uid = types.UID(l.GetValue())
		}
	}
	return ref
}

// sentUpdate is a status update the master sent a framework, as the checker keeps it.
type sentUpdate struct {
	state  mesos.TaskState
	reason string
	source string
}

// podTrack is what the checker saw of one pod through its watch.
type podTrack struct {
	namespace, name string
	uid             types.UID
	owner           string // "" for a bare pod, else Kind/name of its controller
	created         time.Time
	// firstRV is the resource version the pod was first seen at.
	firstRV uint64
	// ended is the pod as first seen Failed or Succeeded.
	ended *corev1.Pod
}

// recorder keeps what the run saw from Mesos's side (through the sim's Observer) and
// Kubernetes' side (a watch of the pods), and checks every acknowledgement when it is
// made.
type recorder struct {
	direct client.Client // reads straight from the API server, never a cache
	// memory: the MesosTasks are in the managers' memory, not the API server's.
	memory bool

	mu          sync.Mutex
	pods        map[types.UID]*podTrack
	taskPods    map[string]podRef           // task id -> pod, from the launches
	launches    map[string]int              // task id -> LAUNCHes the master got
	firstLaunch map[string]time.Time        // task id -> when the master got its first LAUNCH
	sent        map[string][]sentUpdate     // task id -> updates sent
	byUUID      map[string]mesos.TaskStatus // task id + uuid -> the agent update
	twice       map[string]string           // offending task id or pod -> what was seen
	unwritten   map[string]string           // task id + uuid -> what was seen
	acks        struct{ checked, starting, deferred, gone, unknown, unread, inMemory int }
	ackStates   map[string]int // acknowledgements by the state of the update
}

func newRecorder(direct client.Client) *recorder {
	return &recorder{direct: direct, pods: map[types.UID]*podTrack{}, taskPods: map[string]podRef{},
		launches: map[string]int{}, firstLaunch: map[string]time.Time{}, sent: map[string][]sentUpdate{}, byUUID: map[string]mesos.TaskStatus{},
		twice: map[string]string{}, unwritten: map[string]string{}, ackStates: map[string]int{}}
}

func (r *recorder) observer() *mesossim.Observer {
	return &mesossim.Observer{Launch: r.onLaunch, Update: r.onUpdate, Acknowledge: r.onAck}
}

// onLaunch counts a LAUNCH; one that comes while the master has the task live (here or
// in another framework) is a task launched twice.
func (r *recorder) onLaunch(l mesossim.ObservedLaunch) {
	id := l.Task.TaskID.Value
	r.mu.Lock()
	defer r.mu.Unlock()
	r.launches[id]++
	now := time.Now()
	if _, ok := r.firstLaunch[id]; !ok {
		r.firstLaunch[id] = now
	}
	ref := podRefOf(l.Task.Labels)
	r.taskPods[id] = ref
	if len(l.Live) > 0 {
		var live []string
		for _, t := range l.Live {
			live = append(live, fmt.Sprintf("%s on %s in framework %s", t.State, t.AgentID, t.FrameworkID))
		}
		r.twice["task "+id] = fmt.Sprintf("task %s (pod %s) launched again (launch #%d at %s, the first at %s, on %s, framework %s) while live: %s",
			id, ref, r.launches[id], now.UTC().Format("15:04:05.000"), r.firstLaunch[id].UTC().Format("15:04:05.000"),
			l.AgentID, l.FrameworkID, strings.Join(live, "; "))
	}
}

// onUpdate keeps every update sent: agent updates by uuid (to check what is
// acknowledged), and every state and reason (to check the reason a pod ended with).
func (r *recorder) onUpdate(_ string, st mesos.TaskStatus) {
	id := st.TaskID.Value
	su := sentUpdate{state: st.GetState()}
	if st.Reason != nil {
		su.reason = st.Reason.String()
	}
	if st.Source != nil {
		su.source = st.Source.String()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(st.UUID) > 0 {
		r.byUUID[id+"/"+string(st.UUID)] = st
	}
	if n := len(r.sent[id]); n == 0 || r.sent[id][n-1] != su {
		r.sent[id] = append(r.sent[id], su)
	}
}

// onAck checks, while the framework waits for the answer to its ACKNOWLEDGE, that the
// MesosTask in the API server already shows the update. An agent's TASK_STARTING is
// left out: k8sm acknowledges it before it writes it, by design (docs/architecture.md,
// "Updates"), and writes it only if RUNNING does not follow within five seconds.
func (r *recorder) onAck(_ string, ack scheduler.Call_Acknowledge) {
	id := ack.TaskID.Value
	r.mu.Lock()
	st, known := r.byUUID[id+"/"+string(ack.UUID)]
	ref, launched := r.taskPods[id]
	if known {
		r.ackStates[st.GetState().String()]++
	}
	r.mu.Unlock()
	switch {
	case !known || !launched:
		r.countAck(func() { r.acks.unknown++ })
		return
	case st.GetState() == mesos.TASK_STARTING:
		r.countAck(func() { r.acks.starting++ })
		return
	case r.memory:
		r.onAckInMemory(id, ref, st, ack)
		return
	}
	// The read waits out a kube-apiserver restart rather than leave the acknowledgement
	// unchecked: the manager cannot write while it is down, so only a write it made in
	// the second or two between kube-apiserver's return and this read could pass unseen.
	mt := &mesosv1alpha1.MesosTask{}
	err := apiRetry(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return r.direct.Get(ctx, client.ObjectKey{Namespace: ref.namespace, Name: ref.name}, mt)
	})
	lives, running := false, false
	if apierrors.IsNotFound(err) {
		lives, running = r.podState(ref)
	}
	switch {
	case lives && running && st.GetState() == mesos.TASK_RUNNING:
		// In a burst the first RUNNING's MesosTask create is deferred, by design
		// (docs/architecture.md, "Updates"): its pod's status is written before the
		// acknowledgement, which this checks, and the MesosTask later (the settled
		// cluster's runningWithoutTask checks that).
		r.countAck(func() { r.acks.deferred++ })
		return
	case lives:
		// A task's first update writes its MesosTask: acknowledged before that write.
		r.mu.Lock()
		r.acks.checked++
		r.unwritten[id+"/"+hex.EncodeToString(ack.UUID)] = fmt.Sprintf(
			"task %s (pod %s): %s (uuid %s, source %s) acknowledged while its pod has no MesosTask",
			id, ref, st.GetState(), hex.EncodeToString(ack.UUID), st.GetSource())
		r.mu.Unlock()
		return
	case apierrors.IsNotFound(err) || err == nil && mt.Spec.TaskID != id:
		r.countAck(func() { r.acks.gone++ }) // nothing left to write the update to
		return
	case err != nil:
		r.countAck(func() { r.acks.unread++ })
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acks.checked++
	if !reflects(mt.Status, st) {
		r.unwritten[id+"/"+hex.EncodeToString(ack.UUID)] = fmt.Sprintf(
			"task %s (pod %s): %s (uuid %s, source %s) acknowledged while its MesosTask says phase %q, mesosState %q, lastUpdateUUID %q",
			id, ref, st.GetState(), hex.EncodeToString(ack.UUID), st.GetSource(), mt.Status.Phase, mt.Status.MesosState, mt.Status.LastUpdateUUID)
	}
}

// onAckInMemory checks, with the MesosTasks in the managers' memory, what is durable of
// an update before its acknowledgement: its pod. A TASK_RUNNING's pod, unless gone or
// being deleted, has run (Running, or ended since). The other updates are not checked:
// an end may put a pod back to Pending (a launch Mesos never ran) or remove it.
func (r *recorder) onAckInMemory(id string, ref podRef, st mesos.TaskStatus, ack scheduler.Call_Acknowledge) {
	if st.GetState() != mesos.TASK_RUNNING {
		r.countAck(func() { r.acks.inMemory++ })
		return
	}
	pod, err := r.readPod(ref)
	switch {
	case apierrors.IsNotFound(err) || err == nil && (pod.UID != ref.uid || !pod.DeletionTimestamp.IsZero()):
		r.countAck(func() { r.acks.gone++ })
		return
	case err != nil:
		r.countAck(func() { r.acks.unread++ })
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acks.checked++
	if ran(pod) {
		return
	}
	r.unwritten[id+"/"+hex.EncodeToString(ack.UUID)] = fmt.Sprintf(
		"task %s (pod %s): TASK_RUNNING (uuid %s, source %s) acknowledged while its pod is %s",
		id, ref, hex.EncodeToString(ack.UUID), st.GetSource(), pod.Status.Phase)
}

// podState says whether the pod of a task still exists, and whether its status says it
// has run (Running or ended), read from the API server.
func (r *recorder) podState(ref podRef) (lives, hasRun bool) {
	pod, err := r.readPod(ref)
	if err != nil || pod.UID != ref.uid {
		return false, false
	}
	return true, ran(pod)
}

// readPod reads the pod of a task from the API server, waiting out its restarts.
func (r *recorder) readPod(ref podRef) (*corev1.Pod, error) {
	pod := &corev1.Pod{}
	err := apiRetry(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return r.direct.Get(ctx, client.ObjectKey{Namespace: ref.namespace, Name: ref.name}, pod)
	})
	return pod, err
}

// ran says whether a pod's status says it has run: Running, or ended.
func ran(pod *corev1.Pod) bool {
	switch pod.Status.Phase {
	case corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed:
		return true
	}
	return false
}

// summary says how much the recorder saw: launches, tasks, acknowledgements by state.
func (r *recorder) summary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	launches := 0
	for _, n := range r.launches {
		launches += n
	}
	var acks []string
	for s, n := range r.ackStates {
		acks = append(acks, fmt.Sprintf("%s=%d", strings.TrimPrefix(s, "TASK_"), n))
	}
	sort.Strings(acks)
	return fmt.Sprintf("%d LAUNCHes of %d tasks; acknowledgements by state: %s", launches, len(r.launches), strings.Join(acks, " "))
}

func (r *recorder) countAck(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f()
}

// launchRank orders the Mesos states of a task on its way up; 0 for the others.
func launchRank(s string) int {
	switch s {
	case mesos.TASK_STAGING.String():
		return 1
	case mesos.TASK_STARTING.String():
		return 2
	case mesos.TASK_RUNNING.String():
		return 3
	case mesos.TASK_KILLING.String():
		return 4
	}
	return 0
}

// endedPhases are the MesosTask phases after which nothing Mesos says is written.
var endedPhases = map[mesosv1alpha1.TaskPhase]bool{
	mesosv1alpha1.TaskPhaseFinished: true, mesosv1alpha1.TaskPhaseFailed: true,
	mesosv1alpha1.TaskPhaseKilled: true, mesosv1alpha1.TaskPhaseGone: true,
}

// notRunStates are the states that, for a launch Mesos never reported on, say Mesos
// never ran it: k8sm writes the MesosTask back to Pending and launches it again.
var notRunStates = map[mesos.TaskState]bool{mesos.TASK_DROPPED: true, mesos.TASK_LOST: true,
	mesos.TASK_GONE: true, mesos.TASK_GONE_BY_OPERATOR: true, mesos.TASK_UNKNOWN: true}

// reflects says whether a MesosTask status shows an update: it records the update
// itself (its uuid or its state), or something that comes after it (the task ended, or
// is further on its way up than the update says: an older update sent again), or, for
// a launch Mesos never ran, that it waits to be launched again.
func reflects(st mesosv1alpha1.MesosTaskStatus, ts mesos.TaskStatus) bool {
	state := ts.GetState().String()
	switch {
	case st.LastUpdateUUID != "" && st.LastUpdateUUID == hex.EncodeToString(ts.UUID):
		return true
	case endedPhases[st.Phase]:
		return true
	case st.MesosState == state:
		return true
	case launchRank(state) > 0 && launchRank(st.MesosState) >= launchRank(state):
		return true
	case notRunStates[ts.GetState()] && st.MesosState == "" && st.Phase == mesosv1alpha1.TaskPhasePending:
		return true
	}
	return false
}

// watchPods follows the run's pods: every pod seen, and how each first ended. It is a
// reflector of its own rather than an informer: after a restart-apiserver it lists and
// watches again within a second of kube-apiserver's return, where an informer's backs
// off for up to a minute, blind to the pods made and ended meanwhile.
func (r *recorder) watchPods(cs kubernetes.Interface, ns string) (stop func()) {
	lw := cache.NewListWatchFromClient(cs.CoreV1().RESTClient(), "pods", ns, fields.Everything())
	refl := cache.NewReflectorWithOptions(lw, &corev1.Pod{}, podTracker{r}, cache.ReflectorOptions{
		Name:    "chaos-pods",
		Backoff: &wait.Backoff{Duration: 100 * time.Millisecond, Cap: time.Second, Factor: 2, Jitter: 0.1, Steps: 10},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		refl.RunWithContext(ctx)
	}()
	return func() { cancel(); <-done }
}

// podTracker is the store of the recorder's pod reflector: it keeps nothing, and tracks
// every pod it is given (a deleted one as it was last).
type podTracker struct{ r *recorder }

func (s podTracker) Add(obj any) error    { return s.seen(obj) }
func (s podTracker) Update(obj any) error { return s.seen(obj) }
func (s podTracker) Delete(obj any) error { return s.seen(obj) }
func (s podTracker) Resync() error        { return nil }

func (s podTracker) Replace(list []any, _ string) error {
	for _, obj := range list {
		_ = s.seen(obj)
	}
	return nil
}

func (s podTracker) seen(obj any) error {
	if pod, ok := obj.(*corev1.Pod); ok {
		s.r.track(pod)
	}
	return nil
}

// untracked names the pods the watch has not seen: it missed them.
func (r *recorder) untracked(pods []corev1.Pod) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, p := range pods {
		if r.pods[p.UID] == nil {
			out = append(out, p.Namespace+"/"+p.Name)
		}
	}
	return out
}

func (r *recorder) track(pod *corev1.Pod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pt := r.pods[pod.UID]
	if pt == nil {
		pt = &podTrack{namespace: pod.Namespace, name: pod.Name, uid: pod.UID, created: pod.CreationTimestamp.Time}
		pt.firstRV, _ = strconv.ParseUint(pod.ResourceVersion, 10, 64)
		if ref := metav1.GetControllerOf(pod); ref != nil {
			pt.owner = ref.Kind + "/" + ref.Name
		}
		r.pods[pod.UID] = pt
	}
	if pt.ended == nil && (pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded) {
		pt.ended = pod.DeepCopy()
	}
}

// sampleLive looks at the master's tasks every second: two live tasks for one pod are a
// pod launched twice.
func (r *recorder) sampleLive(sim *mesossim.Master) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			r.checkLive(sim.State())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

// checkLive records every pod with more than one live task in the master's state, and
// every pod name with live tasks of two pods (one made again under the name of one whose
// task had not ended: it must wait for that task). A task Mesos reported unreachable is
// left out of the latter: its pod's name is let go while a KILL cannot reach it (README,
// force-deleting), and it is killed when its agent is back.
func (r *recorder) checkLive(st mesossim.State) {
	byPod := map[types.UID][]string{}
	type nameTask struct {
		uid  types.UID
		desc string
	}
	byName := map[string][]nameTask{}
	for _, fw := range st.Frameworks {
		if fw.Removed {
			continue
		}
		for _, t := range fw.Tasks {
			if terminalState(t.State) {
				continue
			}
			ref := podRefOf(&mesos.Labels{Labels: t.Labels})
			if ref.uid == "" {
				ref.uid = types.UID("task " + t.ID) // not k8sm's: counted alone
			}
			desc := fmt.Sprintf("%s %s on %s in framework %s", t.ID, t.State, t.AgentID, fw.ID)
			byPod[ref.uid] = append(byPod[ref.uid], desc)
			if ref.name != "" {
				byName[ref.String()] = append(byName[ref.String()], nameTask{uid: ref.uid, desc: desc})
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, tasks := range byName {
		uids := map[types.UID]bool{}
		var descs []string
		for _, t := range tasks {
			if !r.everUnreachable(strings.Fields(t.desc)[0]) {
				uids[t.uid] = true
				descs = append(descs, t.desc)
			}
		}
		if len(uids) > 1 {
			sort.Strings(descs)
			r.twice["name "+name] = fmt.Sprintf("pod %s has live tasks of %d pods: %s", name, len(uids), strings.Join(descs, "; "))
		}
	}
	for uid, tasks := range byPod {
		if len(tasks) > 1 {
			sort.Strings(tasks)
			r.twice["pod "+string(uid)] = fmt.Sprintf("pod uid %s has %d live tasks: %s", uid, len(tasks), strings.Join(tasks, "; "))
		}
	}
}

// everUnreachable says whether the master sent an update of a task that said its agent
// was unreachable; r.mu is held.
func (r *recorder) everUnreachable(taskID string) bool {
	for _, u := range r.sent[taskID] {
		if u.state == mesos.TASK_UNREACHABLE || u.state == mesos.TASK_LOST && u.reason == mesos.REASON_AGENT_REMOVED.String() {
			return true
		}
	}
	return false
}

// terminalState says whether Mesos takes a task state for final.
func terminalState(s string) bool {
	switch s {
	case "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR":
		return true
	}
	return false
}
