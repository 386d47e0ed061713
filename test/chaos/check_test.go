package chaos

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/mesossim"
	"github.com/k8sm/k8sm/internal/podtask"
	"github.com/k8sm/k8sm/internal/taskstore"
)

// snapshot is the cluster as the checker reads it, from the API server and the master.
type snapshot struct {
	pods []corev1.Pod
	// podsRV is the resource version the pods were listed at.
	podsRV      uint64
	tasks       []mesosv1alpha1.MesosTask
	deployments []appsv1.Deployment
	jobs        []batchv1.Job
	sim         mesossim.State
	// health says what keeps the operator from working: no leader, no subscription.
	health []string
	// removedNodes are the Nodes of the agents removed for good; nodes the Nodes there
	// are.
	removedNodes, nodes map[string]bool
	taken               bool // false until a snapshot could be read
	// tasksInMemory: the managers keep the MesosTasks in memory (-chaos.memory), and the
	// API server has none to check.
	tasksInMemory bool
}

// problems is everything that keeps the cluster from having settled.
func (s snapshot) problems() []string {
	var out []string
	out = append(out, s.health...)
	out = append(out, s.stuck()...)
	out = append(out, s.unfinished()...)
	out = append(out, s.orphaned()...)
	out = append(out, s.runningWithoutRecord()...)
	out = append(out, s.wrongExecutor()...)
	return append(out, s.runningWithoutTask()...)
}

// wrongExecutor names the MesosTasks whose status says their task runs in another
// executor than the one Mesos runs it in: kubectl logs and exec reach a pod through it,
// and after an upgrade of the executor (upgrade-executor) the tasks of a cluster run in
// two. (spec.executorID is the cluster's executor when the MesosTask was made, which a
// pod bound at creation has before its launch: an upgrade in between makes it another.)
func (s snapshot) wrongExecutor() []string {
	executor := map[string]string{}
	for _, fw := range s.sim.Frameworks {
		for _, t := range fw.Tasks {
			if !fw.Removed && !terminalState(t.State) {
				executor[t.ID] = t.ExecutorID
			}
		}
	}
	var out []string
	for _, mt := range s.tasks {
		in, live := executor[mt.Spec.TaskID]
		if !live {
			continue
		}
		if said := mt.Status.ExecutorID; said != "" && said != in {
			out = append(out, fmt.Sprintf("MesosTask %s/%s: status.executorID %s, but Mesos runs task %s in %s", mt.Namespace, mt.Name, said, mt.Spec.TaskID, in))
		}
	}
	sort.Strings(out)
	return out
}

// runningWithoutRecord names the Running pods without their MesosTask: in a burst its
// create is deferred, acknowledged before it is written (records.go), and it must come,
// whatever befell the manager meanwhile.
func (s snapshot) runningWithoutRecord() []string {
	if s.tasksInMemory {
		return nil // the API server holds none; each leader makes them again from the pods
	}
	recorded := map[string]bool{}
	for _, t := range s.tasks {
		recorded[t.Spec.PodUID] = true
	}
	var out []string
	for _, p := range s.pods {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && !recorded[string(p.UID)] {
			out = append(out, fmt.Sprintf("pod %s/%s (uid %s) Running without its MesosTask", p.Namespace, p.Name, p.UID))
		}
	}
	sort.Strings(out)
	return out
}

// listTasks lists the MesosTasks the API server holds: with the MesosTasks in memory,
// none once the leader removed their CRD (taskstore.Takeover), as config/tasks-in-memory
// installs none.
func (r *run) listTasks(ctx context.Context, list *mesosv1alpha1.MesosTaskList, opts ...client.ListOption) error {
	err := r.direct.List(ctx, list, opts...)
	if r.p.memory && taskstore.CRDAbsent(err) {
		list.Items = nil
		return nil
	}
	return err
}

func (r *run) snapshot(ctx context.Context) (snapshot, error) {
	var s snapshot
	var pods corev1.PodList
	if err := r.direct.List(ctx, &pods, client.InNamespace(namespace)); err != nil {
		return s, err
	}
	var tasks mesosv1alpha1.MesosTaskList
	if err := r.listTasks(ctx, &tasks, client.InNamespace(namespace)); err != nil {
		return s, err
	}
	var deployments appsv1.DeploymentList
	if err := r.direct.List(ctx, &deployments, client.InNamespace(namespace)); err != nil {
		return s, err
	}
	var jobs batchv1.JobList
	if err := r.direct.List(ctx, &jobs, client.InNamespace(namespace)); err != nil {
		return s, err
	}
	var nodes corev1.NodeList
	if err := r.direct.List(ctx, &nodes); err != nil {
		return s, err
	}
	s.nodes = map[string]bool{}
	for i := range nodes.Items {
		s.nodes[nodes.Items[i].Name] = true
	}
	s.pods, s.tasks, s.sim, s.taken = pods.Items, tasks.Items, r.sim.State(), true
	s.tasksInMemory = r.p.memory
	s.podsRV, _ = strconv.ParseUint(pods.ResourceVersion, 10, 64)
	s.deployments, s.jobs = deployments.Items, jobs.Items
	r.mu.Lock()
	s.removedNodes = maps.Clone(r.removedNodes)
	r.mu.Unlock()
	if r.mgrs.leader() == nil {
		s.health = append(s.health, "no manager replica leads")
	}
	subscribed := false
	for _, fw := range s.sim.Frameworks {
		subscribed = subscribed || fw.Connected && !fw.Removed
	}
	if !subscribed {
		s.health = append(s.health, "the framework is not subscribed to the master")
	}
	return s, nil
}

// stuck names the pods Pending (while an agent has room for one) or Terminating, and
// the MesosTasks left without their pod.
func (s snapshot) stuck() []string {
	room := s.room()
	var out []string
	pods := map[types.UID]bool{}
	for _, p := range s.pods {
		pods[p.UID] = true
		switch {
		case waitsOnARemovedAgent(&p, s.removedNodes) && (p.DeletionTimestamp == nil || !s.nodes[p.Spec.NodeName]):
			// Bound (as a DaemonSet's pod, at creation) to an agent removed for good: it
			// waits for the agent's Node to be deleted (5 minutes after the agent left)
			// and kube-controller-manager's pod garbage collector, which the run does not
			// start, as such a pod does for a kubelet's Node deleted. Once deleted too, it
			// is the garbage collector's when the Node is gone (no cluster owns the pod
			// of a Node that is not there, bound by the default scheduler's name).
		case p.DeletionTimestamp != nil:
			out = append(out, fmt.Sprintf("pod %s/%s Terminating since %s (phase %s)", p.Namespace, p.Name, p.DeletionTimestamp.Format(time.RFC3339), p.Status.Phase))
		case room && (p.Status.Phase == corev1.PodPending || p.Status.Phase == ""):
			out = append(out, fmt.Sprintf("pod %s/%s Pending on %q (%s)", p.Namespace, p.Name, p.Spec.NodeName, podCondition(p, corev1.PodScheduled)))
		case p.Status.Phase == corev1.PodRunning && !podtask.PodReady(&p.Status):
			out = append(out, fmt.Sprintf("pod %s/%s Running but not Ready (%s)", p.Namespace, p.Name, podCondition(p, corev1.PodReady)))
		}
	}
	for _, t := range s.tasks {
		if !pods[types.UID(t.Spec.PodUID)] {
			out = append(out, fmt.Sprintf("MesosTask %s/%s left without its pod (phase %q, %s, finalizers %v)", t.Namespace, t.Name, t.Status.Phase, t.Status.MesosState, t.Finalizers))
		}
	}
	sort.Strings(out)
	return out
}

// room says whether an agent has room for one more pod.
func (s snapshot) room() bool {
	for _, a := range s.sim.Agents {
		if a.Active && a.Free["cpus"] >= 0.2 && a.Free["mem"] >= 128 {
			return true
		}
	}
	return false
}

// unfinished names, while an agent has room, the Deployments short of ready, up-to-date
// replicas and the Jobs not complete: their pods are yet to be made (kube-controller-
// manager backs off for up to a minute after kube-apiserver was away: the pods it has
// not made are pods the checker cannot count) or to run.
func (s snapshot) unfinished() []string {
	if !s.room() {
		return nil
	}
	var out []string
	for _, d := range s.deployments {
		want, st := ptrOr(d.Spec.Replicas, 1), d.Status
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		// Short only of pods waiting for a removed agent's Node to go is not short.
		waiting := s.waitingOnRemovedNodes(d.Namespace, func(p *corev1.Pod) bool { return err == nil && sel.Matches(labels.Set(p.Labels)) })
		if st.ObservedGeneration < d.Generation || st.Replicas != want || st.UpdatedReplicas != want ||
			(st.ReadyReplicas != want && st.ReadyReplicas+waiting != want) {
			out = append(out, fmt.Sprintf("deployment %s/%s has %d replicas, %d up to date, %d ready of %d (generation %d, observed %d; not ready: %s)",
				d.Namespace, d.Name, st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, want, d.Generation, st.ObservedGeneration, s.notReady(d)))
		}
	}
	for _, j := range s.jobs {
		owned := func(p *corev1.Pod) bool { return controlledBy(p, "Job", j.Name) }
		if !jobEnded(j) && (j.Status.Active == 0 || j.Status.Active != s.waitingOnRemovedNodes(j.Namespace, owned)) {
			out = append(out, fmt.Sprintf("job %s/%s has %d succeeded of %d, %d active, %d failed (its pods: %s)",
				j.Namespace, j.Name, j.Status.Succeeded, ptrOr(j.Spec.Completions, 1), j.Status.Active, j.Status.Failed, s.podPhases("Job", j.Name)))
		}
	}
	sort.Strings(out)
	return out
}

// waitingOnRemovedNodes counts the pods of a namespace that mine says are its
// controller's and that wait, Pending, on the Node of an agent removed for good that is
// still there: the Node reconciler deletes it 5 minutes after the agent left (and then
// the pod fails, podtask.NodeDeleted), which may be after the run settles.
func (s snapshot) waitingOnRemovedNodes(namespace string, mine func(*corev1.Pod) bool) int32 {
	var n int32
	for i := range s.pods {
		p := &s.pods[i]
		if p.Namespace == namespace && p.DeletionTimestamp == nil && mine(p) && waitsOnARemovedAgent(p, s.removedNodes) && s.nodes[p.Spec.NodeName] {
			n++
		}
	}
	return n
}

// controlledBy says whether a pod's controller is the named one of kind.
func controlledBy(p *corev1.Pod, kind, name string) bool {
	ref := metav1.GetControllerOf(p)
	return ref != nil && ref.Kind == kind && ref.Name == name
}

// podPhases counts the pods of a controller by phase: a Job whose pods ended while its
// status does not say so waits for kube-controller-manager, not for k8sm.
func (s snapshot) podPhases(kind, name string) string {
	n := map[string]int{}
	for _, p := range s.pods {
		if controlledBy(&p, kind, name) {
			phase := string(p.Status.Phase)
			if p.DeletionTimestamp != nil {
				phase += "(terminating)"
			}
			n[phase]++
		}
	}
	var parts []string
	for phase, c := range n {
		parts = append(parts, fmt.Sprintf("%s=%d", phase, c))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// notReady names a Deployment's pods that are not Ready, with their phase and Node: a
// replica short of ready that no other check names (a pod Pending on an agent removed
// for good) is told apart from a status kube-controller-manager has not written.
func (s snapshot) notReady(d appsv1.Deployment) string {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, p := range s.pods {
		if p.Namespace != d.Namespace || !sel.Matches(labels.Set(p.Labels)) || podtask.PodReady(&p.Status) {
			continue
		}
		what := fmt.Sprintf("%s %s on %q", p.Name, p.Status.Phase, p.Spec.NodeName)
		if p.DeletionTimestamp != nil {
			what += " (terminating)"
		}
		out = append(out, what)
	}
	sort.Strings(out)
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

func jobEnded(j batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func podCondition(p corev1.Pod, typ corev1.PodConditionType) string {
	for _, c := range p.Status.Conditions {
		if c.Type == typ {
			return fmt.Sprintf("%s=%s %s %s", typ, c.Status, c.Reason, c.Message)
		}
	}
	return "no " + string(typ) + " condition"
}

// runningWithoutTask names the pods that show Running while Mesos runs no task for
// them: lost, though Kubernetes does not say so.
func (s snapshot) runningWithoutTask() []string {
	live := map[types.UID]bool{}
	for _, fw := range s.sim.Frameworks {
		for _, t := range fw.Tasks {
			if !fw.Removed && !terminalState(t.State) {
				live[podRefOf(&mesos.Labels{Labels: t.Labels}).uid] = true
			}
		}
	}
	var out []string
	for _, p := range s.pods {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && !live[p.UID] {
			out = append(out, fmt.Sprintf("pod %s/%s (uid %s) shows Running but Mesos runs no task for it", p.Namespace, p.Name, p.UID))
		}
	}
	sort.Strings(out)
	return out
}

// orphaned names the tasks Mesos runs for no pod: the pod is gone or ended.
func (s snapshot) orphaned() []string {
	pods := map[types.UID]corev1.Pod{}
	for _, p := range s.pods {
		pods[p.UID] = p
	}
	var out []string
	for _, fw := range s.sim.Frameworks {
		if fw.Removed {
			continue
		}
		for _, t := range fw.Tasks {
			if terminalState(t.State) {
				continue
			}
			ref := podRefOf(&mesos.Labels{Labels: t.Labels})
			p, ok := pods[ref.uid]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("task %s %s on %s (framework %s) runs for pod %s, which is gone", t.ID, t.State, t.AgentID, fw.ID, ref))
			case p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded:
				out = append(out, fmt.Sprintf("task %s %s on %s (framework %s) runs for pod %s, which ended %s", t.ID, t.State, t.AgentID, fw.ID, ref, p.Status.Phase))
			}
		}
	}
	sort.Strings(out)
	return out
}

// settle waits, at most bound, until a manager leads with the framework subscribed, no
// pod is stuck, no task orphaned and no pod shows Running without a task. The last
// snapshot is what the checker counts.
func (r *run) settle(bound time.Duration) snapshot {
	var last snapshot
	var failure string
	g := NewGomega(func(message string, _ ...int) { failure = message })
	start := time.Now()
	progress := start
	r.t.Logf("settling (at most %s)", bound)
	ok := g.Eventually(func() ([]string, error) {
		s, err := r.snapshot(context.Background())
		if err != nil {
			return nil, err
		}
		last = s
		problems := s.problems()
		if time.Since(progress) >= 15*time.Second && len(problems) > 0 {
			progress = time.Now() // what a slow settling waits for, to tell a near miss from a hang
			r.t.Logf("settling for %s: %d problems, e.g. %s", time.Since(start).Round(time.Second), len(problems), strings.Join(problems[:min(3, len(problems))], "; "))
		}
		return problems, nil
	}, bound, time.Second).Should(BeEmpty())
	if ok {
		r.t.Logf("settled in %s", time.Since(start).Round(time.Second))
	} else {
		r.t.Logf("not settled within %s: %s", bound, firstLines(failure, 20))
	}
	return last
}

func firstLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append(lines[:n], fmt.Sprintf("... (%d more lines)", len(lines)-n))
	}
	return strings.Join(lines, "\n")
}

// report is the checker's verdict.
type report struct {
	pods, faults                                                                             int
	twice, lost, orphaned, stuck, unwritten, errors                                          []string
	leftAfterTeardown                                                                        []string // what the deleted cluster left (-chaos.teardown)
	keptLeading                                                                              []string // leaders that outlived their Lease (restart-apiserver)
	acksChecked, acksStarting, acksDeferred, acksGone, acksUnknown, acksUnread, acksInMemory int
}

func (rep report) line(seed int64) string {
	return fmt.Sprintf("chaos: seed=%d pods=%d faults=%d launched-twice=%d lost=%d orphaned=%d stuck=%d acked-unwritten=%d left-after-teardown=%d",
		seed, rep.pods, rep.faults, len(rep.twice), len(rep.lost), len(rep.orphaned), len(rep.stuck), len(rep.unwritten), len(rep.leftAfterTeardown))
}

func (rep report) failed() bool {
	return len(rep.twice)+len(rep.lost)+len(rep.orphaned)+len(rep.stuck)+len(rep.unwritten)+len(rep.keptLeading)+len(rep.errors)+len(rep.leftAfterTeardown) > 0
}

func (rep report) details() string {
	var b strings.Builder
	for _, sec := range []struct {
		name  string
		items []string
	}{{"launched twice", rep.twice}, {"lost", rep.lost}, {"orphaned", rep.orphaned}, {"stuck", rep.stuck},
		{"acknowledged before written", rep.unwritten}, {"kept leading without renewing its Lease", rep.keptLeading},
		{"left after the MesosCluster was deleted", rep.leftAfterTeardown},
		{"run errors", rep.errors}} {
		if len(sec.items) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s (%d):\n", sec.name, len(sec.items))
		for _, it := range sec.items {
			fmt.Fprintf(&b, "  %s\n", it)
		}
	}
	return b.String()
}

// check counts what went wrong, from the last snapshot, what the recorder saw and the
// API server's audit log.
func (r *run) check(last snapshot) report {
	rep := report{faults: r.faults.count(), orphaned: last.orphaned(), stuck: slices.Concat(last.health, last.stuck(), last.unfinished(), last.runningWithoutRecord(), last.wrongExecutor()),
		lost: last.runningWithoutTask(), keptLeading: r.api.keptLeading(), errors: r.runErrors()}
	if !last.taken {
		rep.errors = append(rep.errors, "the cluster could not be read after the faults: nothing counted")
		return rep
	}
	deletes, err := readPodDeletes(r.auditLog)
	if err != nil {
		rep.errors = append(rep.errors, "reading the audit log: "+err.Error())
	}
	missed := r.rec.untracked(last.pods)
	for wait := time.Now().Add(10 * time.Second); len(missed) > 0 && time.Now().Before(wait); missed = r.rec.untracked(last.pods) {
		time.Sleep(100 * time.Millisecond) // the watch delivers the newest pods a moment after the snapshot
	}
	if len(missed) > 0 {
		rep.errors = append(rep.errors, fmt.Sprintf("the checker's pod watch never saw %d pods that exist (%s): what it counts is incomplete",
			len(missed), strings.Join(missed[:min(len(missed), 5)], ", ")))
	}
	existing := map[types.UID]bool{}
	for _, p := range last.pods {
		existing[p.UID] = true
	}
	rec := r.rec
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rep.pods = len(rec.pods)
	for _, why := range rec.twice {
		rep.twice = append(rep.twice, why)
	}
	for _, why := range rec.unwritten {
		rep.unwritten = append(rep.unwritten, why)
	}
	for _, pt := range rec.pods {
		if !existing[pt.uid] && pt.firstRV > last.podsRV {
			// First seen at a version after the pods were listed: made after the list
			// (a ReplicaSet still scaling), so the list cannot say it is gone.
			continue
		}
		if why := lostWhy(pt, existing[pt.uid], deletes, rec.sent["k8sm."+string(pt.uid)]); why != "" {
			rep.lost = append(rep.lost, why)
		}
	}
	sort.Strings(rep.twice)
	sort.Strings(rep.unwritten)
	sort.Strings(rep.lost)
	rep.acksChecked, rep.acksStarting, rep.acksDeferred, rep.acksGone, rep.acksUnknown, rep.acksUnread = rec.acks.checked, rec.acks.starting, rec.acks.deferred, rec.acks.gone, rec.acks.unknown, rec.acks.unread
	rep.acksInMemory = rec.acks.inMemory
	return rep
}

// lostWhy says how a pod was lost, or "": it vanished though neither the test nor a
// controller deleted it (no deletion, or the manager's was the first), or it ended
// without a Mesos update that says so (before anyone asked to delete it).
func lostWhy(pt *podTrack, exists bool, deletes map[string][]podDelete, sent []sentUpdate) string {
	what := fmt.Sprintf("pod %s/%s (uid %s%s)", pt.namespace, pt.name, pt.uid, ownerNote(pt.owner))
	if !exists {
		switch d := firstDelete(deletes, pt.namespace, pt.name, pt.created); {
		case d == nil:
			return what + " vanished: nobody asked the API server to delete it"
		case d.user == userManager:
			return fmt.Sprintf("%s was removed by the manager at %s without a deletion by the test or a controller", what, d.at.Format(time.RFC3339Nano))
		}
	}
	if e := pt.ended; e != nil && e.DeletionTimestamp == nil && !truthfulEnd(e, sent) {
		return fmt.Sprintf("%s ended %s (reason %q, message %q) but Mesos sent its task only %s", what, e.Status.Phase, e.Status.Reason, e.Status.Message, sentStates(sent))
	}
	return ""
}

func ownerNote(owner string) string {
	if owner == "" {
		return ", bare"
	}
	return ", of " + owner
}

func sentStates(sent []sentUpdate) string {
	if len(sent) == 0 {
		return "nothing"
	}
	var parts []string
	for _, s := range sent {
		p := s.state.String()
		if s.reason != "" {
			p += "(" + s.reason + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// truthfulEnd says whether Mesos told the end a pod shows: Succeeded after
// TASK_FINISHED; Failed with Mesos's reason of a terminal update, NodeLost after the
// task was unreachable, MesosTaskGone after Mesos said it does not know the task. A
// pod whose Node was deleted before its task ran (podtask.NodeDeleted: its launch
// dropped as its agent was removed) fails NodeLost too, when no update says it ran.
func truthfulEnd(pod *corev1.Pod, sent []sentUpdate) bool {
	phase, reason := pod.Status.Phase, pod.Status.Reason
	any := func(ok func(sentUpdate) bool) bool {
		for _, s := range sent {
			if ok(s) {
				return true
			}
		}
		return false
	}
	switch {
	case phase == corev1.PodSucceeded:
		return any(func(s sentUpdate) bool { return s.state == mesos.TASK_FINISHED })
	case reason == "":
		return false
	case reason == "NodeLost" && pod.Status.Message == podtask.NodeDeletedMessage(pod.Spec.NodeName):
		return !any(func(s sentUpdate) bool {
			switch s.state {
			case mesos.TASK_STARTING, mesos.TASK_RUNNING, mesos.TASK_KILLING:
				return true
			}
			return false
		})
	case reason == "NodeLost":
		return any(func(s sentUpdate) bool { return s.state == mesos.TASK_UNREACHABLE || s.state == mesos.TASK_LOST })
	case reason == "MesosTaskGone":
		return any(func(s sentUpdate) bool {
			switch s.state {
			case mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR, mesos.TASK_UNKNOWN, mesos.TASK_LOST:
				return true
			}
			return false
		})
	}
	return any(func(s sentUpdate) bool { return terminalState(s.state.String()) && s.reason == reason })
}
