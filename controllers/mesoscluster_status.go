package controllers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/metrics"
	"github.com/k8sm/k8sm/internal/podtask"
)

// setCondition is the one setter of a MesosCluster's conditions: each carries the
// generation it was computed from, and keeps its transition time while its status stays.
func setCondition(st *mesosv1alpha1.MesosClusterStatus, generation int64, t string, ok bool, reason, msg string) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: generation})
}

// setBroken records a problem that keeps the cluster from running.
// Its driver is stopped: the agents it knew are no longer counted, and the framework is
// not subscribed. The subscription gauge is set here, not only by a driver's stop: a
// manager that starts with the cluster broken never makes a driver, and the gauge would
// be missing rather than 0, out of reach of an alert on it.
func (r *MesosClusterReconciler) setBroken(mc *mesosv1alpha1.MesosCluster, st *mesosv1alpha1.MesosClusterStatus, reason, msg string) {
	st.Leader = ""
	st.Agents, st.Capacity = 0, nil
	m := metrics.Cluster(mc.Name)
	m.Agents(0)
	m.NotSubscribed()
	gen := mc.Generation
	setCondition(st, gen, mesosv1alpha1.ConditionSubscribed, false, reason, msg)
	setCondition(st, gen, mesosv1alpha1.ConditionReady, false, reason, msg)
	setCondition(st, gen, mesosv1alpha1.ConditionReconciled, false, ReasonNotSubscribed, "Tasks are reconciled after the framework subscribes")
	setCondition(st, gen, mesosv1alpha1.ConditionDegraded, true, reason, msg)
}

// namespaceSelectorError says why a cluster's namespaceSelector is no label selector
// (a key or value that is no label's: the CRD checks operators and values only); nil
// when it is one, or there is none. Such a cluster takes no pod (namespaceAllowed).
func namespaceSelectorError(mc *mesosv1alpha1.MesosCluster) error {
	if mc.Spec.NamespaceSelector == nil {
		return nil
	}
	_, err := metav1.LabelSelectorAsSelector(mc.Spec.NamespaceSelector)
	return err
}

// degradation is what a pass makes of Degraded. A pass works it out from several
// sources (the driver, then the kubelet API's client CA, then its port) and sets the
// condition once: set False, then True again in the same pass, it would take a new
// transition time at every pass while it stays True.
type degradation struct {
	degraded    bool
	reason, msg string
}

// or is d when it says the cluster is Degraded, else other: one reason at a time, the
// first found first.
func (d degradation) or(other degradation) degradation {
	if d.degraded {
		return d
	}
	return other
}

// setDegraded sets the Degraded condition a pass worked out.
func setDegraded(st *mesosv1alpha1.MesosClusterStatus, generation int64, d degradation) {
	setCondition(st, generation, mesosv1alpha1.ConditionDegraded, d.degraded, d.reason, d.msg)
}

// statusFromDriver fills the status from the driver's snapshot, all but Degraded, which
// it returns for the caller to set once it has looked at the rest.
func (r *MesosClusterReconciler) statusFromDriver(mc *mesosv1alpha1.MesosCluster, st *mesosv1alpha1.MesosClusterStatus, s framework.Status) degradation {
	gen := mc.Generation
	if s.FrameworkID != "" {
		st.FrameworkID = s.FrameworkID
	}
	st.Leader = s.Leader
	st.Agents = int32(len(s.Agents))
	metrics.Cluster(mc.Name).Agents(len(s.Agents))
	st.Capacity = summarize(s.Agents)

	set := func(t string, ok bool, reason, msg string) { setCondition(st, gen, t, ok, reason, msg) }

	switch {
	case s.Subscribed:
		msg := fmt.Sprintf("Subscribed to %s as framework %s", s.Leader, s.FrameworkID)
		set(mesosv1alpha1.ConditionSubscribed, true, ReasonSubscribed, msg)
		if s.Reconciled {
			set(mesosv1alpha1.ConditionReconciled, true, ReasonTasksReconciled, "Task states were reconciled with Mesos after subscribing")
		} else {
			set(mesosv1alpha1.ConditionReconciled, false, ReasonReconciling, "Reconciling task states with Mesos")
		}
		set(mesosv1alpha1.ConditionReady, true, ReasonSubscribed, msg)
		return subscribedDegradation(mc, s)
	default:
		reason, msg := ReasonConnecting, "Connecting to "+mc.Spec.Master
		var se *framework.SubscribeError
		if errors.As(s.LastError, &se) {
			reason, msg = se.Reason, se.Error()
		} else if s.LastError != nil {
			msg = s.LastError.Error()
		}
		if s.Refused != "" {
			reason, msg = framework.RefusalReason(s.Refused), "Mesos refused the framework: "+s.Refused
			switch reason {
			case ReasonFrameworkRemoved:
				msg = fmt.Sprintf("Mesos removed framework %s (its failover timeout passed, or it was torn down): %s", st.FrameworkID, s.Refused)
			case ReasonPrincipalChangeRefused:
				msg = principalChangeMessage(mc, st.FrameworkID, s.Refused)
			case ReasonFrameworkTakenOver:
				msg = fmt.Sprintf("Another scheduler subscribed as framework %s (%s): does a second manager run this MesosCluster (another install, or replicas without --leader-elect)? This one waits before subscribing again", st.FrameworkID, s.Refused)
			}
		}
		set(mesosv1alpha1.ConditionSubscribed, false, reason, msg)
		set(mesosv1alpha1.ConditionReconciled, false, ReasonNotSubscribed, "Tasks are reconciled after the framework subscribes")
		set(mesosv1alpha1.ConditionReady, false, reason, msg)
		return degradation{reason != ReasonConnecting, reason, msg}
	}
}

// recordPrincipal records in the status the principal the framework registered with:
// that of a driver that subscribed as the framework of the status, since Mesos accepts
// a framework with that principal alone. drivers are the cluster's driver and the one a
// config change just replaced, if any: a principal changed before the framework id was
// recorded restarts the driver with it, and Mesos refuses that one, so the principal to
// put back is known only from the driver it replaced.
func recordPrincipal(st *mesosv1alpha1.MesosClusterStatus, drivers ...*framework.Driver) {
	for _, d := range drivers {
		if d == nil {
			continue
		}
		if s := d.Status(); s.Subscription != 0 && s.FrameworkID != "" && s.FrameworkID == st.FrameworkID {
			st.FrameworkPrincipal = d.Principal()
			return
		}
	}
}

// subscribedDegradation is Degraded for a subscribed framework: what still needs a person.
func subscribedDegradation(mc *mesosv1alpha1.MesosCluster, s framework.Status) degradation {
	if err := namespaceSelectorError(mc); err != nil {
		return degradation{true, ReasonInvalidNamespaceSelector, fmt.Sprintf(
			"spec.namespaceSelector is not a valid label selector (%v): the cluster takes the pods of no namespace until it is fixed", err)}
	}
	if s.AgentsError != nil {
		return degradation{true, ReasonAgentsUnlisted, fmt.Sprintf(
			"The master's operator API did not list the agents (%v): Node capacity comes from offers, which show only what other frameworks leave, and after a restart of the manager the Node of an agent that neither offers within a minute nor runs the cluster's tasks or executors goes Unknown; let the framework's principal call GET_AGENTS", s.AgentsError)}
	}
	if s.TasksError != nil {
		return degradation{true, ReasonTasksUnlisted, fmt.Sprintf(
			"The master's operator API did not list the tasks it holds (%v): the task of a pod removed while no manager led is killed only once Mesos reports it, and a pod made again under its name may run beside it meanwhile; let the framework's principal call GET_TASKS (ACLs view_frameworks and view_tasks), then restart the manager, or wait for its next subscription, to ask again", s.TasksError)}
	}
	if mc.Spec.Framework.CredentialsSecretRef != nil && plaintextMaster(mc) {
		return degradation{true, ReasonPlaintextCredentials,
			"The framework's credentials travel unencrypted to " + s.Leader + " (spec.framework.allowPlaintextCredentials): anyone on the path can read them; use https:// masters"}
	}
	if tls := mc.Spec.TLS; mc.Spec.Framework.CredentialsSecretRef != nil && tls != nil && tls.InsecureSkipVerify {
		return degradation{true, ReasonUnverifiedMaster,
			"The framework's credentials go to " + s.Leader + " without its certificate verified (spec.tls.insecureSkipVerify): whoever answers in the master's name gets them; name the masters' CA in spec.tls.caSecretRef"}
	}
	if t := failoverTimeout(mc); t < minSafeFailoverTimeout {
		return degradation{true, ReasonShortFailoverTimeout, fmt.Sprintf(
			"spec.framework.failoverTimeout is %s: Mesos kills every task of the framework once it is disconnected for longer, as it is while the manager restarts or fails over, or the master fails over; the default is %s",
			t, mesosv1alpha1.DefaultFailoverTimeout)}
	}
	if s.ScheduleError != nil {
		return degradation{true, ReasonScheduleUnread, fmt.Sprintf(
			"The master's maintenance schedule could not be read whole (%v): agents' maintenance windows come from their offers and inverse offers, and a window cancelled on an agent the cluster holds no offer of keeps its Node tainted until the agent's next offer; let the framework's principal call GET_MAINTENANCE_SCHEDULE and see every machine (ACL get_maintenance_schedules); a failed read is tried again within 30 s, a schedule found hiding a machine is trusted again once the manager restarts", s.ScheduleError)}
	}
	return degradation{false, ReasonAsExpected, "The framework is subscribed"}
}

// principalChangeMessage says what to do when Mesos refuses the framework's principal:
// Mesos never lets a framework change it (nor tells the old one), and while the
// framework cannot subscribe its failover timeout runs.
func principalChangeMessage(mc *mesosv1alpha1.MesosCluster, frameworkID, refused string) string {
	principal := "none"
	if p := mc.Spec.Framework.Principal; p != "" {
		principal = fmt.Sprintf("%q", p)
	}
	return fmt.Sprintf("Mesos refuses framework %s (%s): a registered framework cannot change its principal, and spec.framework.principal (now %s) "+
		"is not the one it registered with. Put that principal back (status.frameworkPrincipal, or the master's log, names it); to use this one, create a new MesosCluster, "+
		"which registers a new framework (deleting this one tears its framework down). Meanwhile the framework is disconnected, and Mesos kills "+
		"its tasks once spec.framework.failoverTimeout (%s) passes", frameworkID, refused, principal, failoverTimeout(mc))
}

func isFrameworkRemoved(msg string) bool { return framework.IsRemoved(msg) }

// summarize adds up the agents' capacities as their offers show them.
func summarize(agents map[string]framework.Agent) *mesosv1alpha1.ResourceSummary {
	if len(agents) == 0 {
		return nil
	}
	var cpus, mem, disk, gpus resource.Quantity
	for _, a := range agents {
		c := agentnode.Capacity(a.Capacity)
		cpus.Add(c[corev1.ResourceCPU])
		mem.Add(c[corev1.ResourceMemory])
		disk.Add(c[corev1.ResourceEphemeralStorage])
		gpus.Add(c[agentnode.ResourceGPU])
	}
	return &mesosv1alpha1.ResourceSummary{CPUs: &cpus, Memory: &mem, Disk: &disk, GPUs: gpus.Value()}
}

// countTasks fills the task counts by phase and the resources the live tasks hold.
func (r *MesosClusterReconciler) countTasks(ctx context.Context, mc *mesosv1alpha1.MesosCluster, st *mesosv1alpha1.MesosClusterStatus) error {
	tasks := r.Tasks
	if tasks == nil {
		tasks = indexer.ListTasks{Reader: r.Client}
	}
	list, err := tasks.OfCluster(ctx, mc.Name)
	if err != nil {
		return err
	}
	unwritten := func(string) bool { return false }
	queued, launching := 0, 0
	if sched := r.Registry.Scheduler(mc.Name); sched != nil {
		unwritten = sched.LaunchUnwritten
		queued, launching = sched.Unstored()
	}
	counts, allocated := tally(list, unwritten)
	// Tasks whose MesosTask is not written yet: queued pods, and launches Mesos has not
	// reported on (their resources count once it has).
	counts.Pending += int32(queued)
	counts.Launching += int32(launching)
	st.Tasks, st.Allocated = &counts, allocated
	st.ExecutorID = podtask.ExecutorID(mc)
	st.Executors = executorUsage(list, st.ExecutorID)
	metrics.Cluster(mc.Name).Tasks(map[string]int{
		"pending": int(counts.Pending), "launching": int(counts.Launching), "running": int(counts.Running),
		"killing": int(counts.Killing), "unreachable": int(counts.Unreachable), "terminated": int(counts.Terminated),
	})
	return nil
}

// tally counts tasks by phase and adds up the resources of those that hold them.
// launchUnwritten says whether this process launched a task whose MesosTask has no phase
// yet: the launch is recorded by the pod's binding alone until the task's first update.
func tally(tasks []*mesosv1alpha1.MesosTask, launchUnwritten func(taskID string) bool) (mesosv1alpha1.TaskCounts, *mesosv1alpha1.ResourceSummary) {
	counts := mesosv1alpha1.TaskCounts{}
	cpus, mem, disk := resource.Quantity{}, resource.Quantity{}, resource.Quantity{}
	var gpus int64
	for i := range tasks {
		mt := tasks[i]
		switch mt.Status.Phase {
		case "":
			if !launchUnwritten(mt.Spec.TaskID) {
				counts.Pending++
				continue
			}
			counts.Launching++
		case mesosv1alpha1.TaskPhasePending:
			counts.Pending++
			continue
		case mesosv1alpha1.TaskPhaseStaging, mesosv1alpha1.TaskPhaseStarting:
			counts.Launching++
		case mesosv1alpha1.TaskPhaseRunning:
			counts.Running++
		case mesosv1alpha1.TaskPhaseKilling:
			counts.Killing++
		case mesosv1alpha1.TaskPhaseUnreachable:
			counts.Unreachable++
		default:
			counts.Terminated++
			continue
		}
		res := mt.Spec.Resources
		for _, q := range []struct {
			sum *resource.Quantity
			v   *resource.Quantity
		}{{&cpus, res.CPUs}, {&mem, res.Memory}, {&disk, res.Disk}} {
			if q.v != nil {
				q.sum.Add(*q.v)
			}
		}
		gpus += int64(res.GPUs)
	}
	return counts, &mesosv1alpha1.ResourceSummary{CPUs: &cpus, Memory: &mem, Disk: &disk, GPUs: gpus}
}

// writeStatus writes the status when it changed, and records events for what changed
// that a person should see. mc comes from the cache, which may not have the previous
// pass's write yet: its status is then no proof that the stored one is st (a pass that
// wrote "not subscribed", then one right after that works out the status the cache
// still shows, would leave the former until the next resync; this controller does not
// run for its own status writes). So an unchanged status is skipped only when the cache
// holds this process's latest write, and a write from a cache that may be stale carries
// its resourceVersion: if the cluster changed since, the write fails with a conflict
// and the pass is retried.
func (r *MesosClusterReconciler) writeStatus(ctx context.Context, mc *mesosv1alpha1.MesosCluster, st *mesosv1alpha1.MesosClusterStatus) error {
	keepTransitionTimes(mc.Status.Conditions, st.Conditions)
	written, wrote := r.statusWrites.Load(mc.Name)
	current := !wrote || written == mc.ResourceVersion
	if current && equality.Semantic.DeepEqual(&mc.Status, st) {
		return nil
	}
	evs := statusEvents(mc.Status.Conditions, st.Conditions)
	idBefore := mc.Status.FrameworkID
	patch := client.MergeFrom(mc.DeepCopy())
	if !current {
		patch = client.MergeFromWithOptions(mc.DeepCopy(), client.MergeFromWithOptimisticLock{})
	}
	mc.Status = *st
	if err := r.Status().Patch(ctx, mc, patch); err != nil {
		return client.IgnoreNotFound(err)
	}
	r.statusWrites.Store(mc.Name, mc.ResourceVersion)
	// Told once the change is stored: a write refused for a stale cache is done again,
	// and would tell it twice.
	for _, e := range evs {
		r.Recorder.Eventf(mc, nil, e.kind, e.reason, e.action, "%s", e.msg)
	}
	r.tookBack(mc, idBefore)
	return nil
}

// statusEvent is an event on a cluster for a change of its conditions.
type statusEvent struct{ kind, reason, action, msg string }

// statusEvents are the events for the change of a cluster's conditions from before to
// after: Subscribed's, when its status or reason changed (but for Connecting, which
// passes), and Degraded's, when it turned True or changed its reason, for the warnings
// a subscribed framework has too. A Degraded that says what Subscribed says (the
// framework cannot subscribe) is Subscribed's to tell.
func statusEvents(before, after []metav1.Condition) []statusEvent {
	changed := func(t string) *metav1.Condition {
		b, a := meta.FindStatusCondition(before, t), meta.FindStatusCondition(after, t)
		if a == nil || (b != nil && b.Status == a.Status && b.Reason == a.Reason) {
			return nil
		}
		return a
	}
	var evs []statusEvent
	sub := changed(mesosv1alpha1.ConditionSubscribed)
	switch {
	case sub == nil:
	case sub.Status == metav1.ConditionTrue:
		evs = append(evs, statusEvent{corev1.EventTypeNormal, ReasonSubscribed, "Subscribe", sub.Message})
	case sub.Reason != ReasonConnecting:
		evs = append(evs, statusEvent{corev1.EventTypeWarning, sub.Reason, "Subscribe", sub.Message})
	}
	if deg := changed(mesosv1alpha1.ConditionDegraded); deg != nil && deg.Status == metav1.ConditionTrue {
		if s := meta.FindStatusCondition(after, mesosv1alpha1.ConditionSubscribed); s == nil || s.Status == metav1.ConditionTrue || s.Reason != deg.Reason {
			evs = append(evs, statusEvent{corev1.EventTypeWarning, deg.Reason, "Reconcile", deg.Message})
		}
	}
	return evs
}

// keepTransitionTimes gives each condition of conds whose status is the one stored the
// stored transition time: a pass that set a condition twice (False, then True again)
// leaves it as it was, rather than new since now, and a status that changed in nothing
// else is not written again.
func keepTransitionTimes(stored, conds []metav1.Condition) {
	for i := range conds {
		if old := meta.FindStatusCondition(stored, conds[i].Type); old != nil && old.Status == conds[i].Status {
			conds[i].LastTransitionTime = old.LastTransitionTime
		}
	}
}

// maxExecutorsListed is status.executors' bound (its MaxItems): a longer list would
// have every status write refused.
const maxExecutorsListed = 64

// executorUsage counts, per executor, the agents and tasks of the live tasks (launched,
// not ended) that say which executor they run in: after a change of spec.executor the
// old executor runs out as its pods end. Past maxExecutorsListed executors (many
// changes of spec.executor while old pods run), the current one and the busiest others
// are listed.
func executorUsage(tasks []*mesosv1alpha1.MesosTask, current string) []mesosv1alpha1.ExecutorUsage {
	agents := map[string]map[string]bool{}
	count := map[string]int32{}
	for i := range tasks {
		st := &tasks[i].Status
		if !podtask.Launched(st.Phase) || podtask.IsTerminalPhase(st.Phase) || st.ExecutorID == "" {
			continue
		}
		if agents[st.ExecutorID] == nil {
			agents[st.ExecutorID] = map[string]bool{}
		}
		agents[st.ExecutorID][st.AgentID] = true
		count[st.ExecutorID]++
	}
	out := make([]mesosv1alpha1.ExecutorUsage, 0, len(count))
	for id, n := range count {
		out = append(out, mesosv1alpha1.ExecutorUsage{ID: id, Agents: int32(len(agents[id])), Tasks: n})
	}
	if len(out) > maxExecutorsListed {
		slices.SortFunc(out, func(a, b mesosv1alpha1.ExecutorUsage) int {
			if (a.ID == current) != (b.ID == current) {
				if a.ID == current {
					return -1
				}
				return 1
			}
			if c := cmp.Compare(b.Tasks, a.Tasks); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		out = out[:maxExecutorsListed]
	}
	slices.SortFunc(out, func(a, b mesosv1alpha1.ExecutorUsage) int { return strings.Compare(a.ID, b.ID) })
	if len(out) == 0 {
		return nil
	}
	return out
}
