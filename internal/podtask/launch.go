package podtask

import (
	"fmt"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// The rules of a task's life before Mesos reports on it: the launch record, whether a
// task may run, why it waits or cannot run at all. Each takes and returns API objects
// only, so that every rule that turns a launch into MesosTask or Pod status lives here
// beside ApplyUpdate and PodStatusFor.

// Reasons k8sm sets on MesosTasks and Pods besides Mesos's own.
const (
	// ReasonInvalidPod fails a pod that cannot be turned into a Mesos task.
	ReasonInvalidPod = "InvalidPod"
	// ReasonNamespaceNotAllowed fails a pod bound to an agent's Node in a namespace the
	// agent's cluster does not take.
	ReasonNamespaceNotAllowed = "NamespaceNotAllowed"
	// ReasonLaunched is the Scheduled condition's reason once a task went to an agent.
	ReasonLaunched = "Launched"
)

// Launch is where, in which executor and when a task was launched.
type Launch struct {
	AgentID, Hostname, ExecutorID string
	At                            metav1.Time
}

// Launched says whether a task of that phase was handed to Mesos.
func Launched(p mesosv1alpha1.TaskPhase) bool {
	return p != "" && p != mesosv1alpha1.TaskPhasePending
}

// BoundUnrecorded says whether a MesosTask has no phase yet while the operator bound its
// pod: the task may have been launched by a manager that stopped before writing any
// update, since the binding is the launch record. A pod bound before it was taken has
// its launch written before it is sent, so its binding records nothing; but where its
// status shows its task launched (LaunchedOnPod), the MesosTask that recorded the launch
// is gone (made again by a manager that found none), and the task may run as well.
func BoundUnrecorded(mt *mesosv1alpha1.MesosTask, pod *corev1.Pod) bool {
	return mt.Status.Phase == "" && pod != nil && pod.UID == types.UID(mt.Spec.PodUID) && pod.Spec.NodeName != "" &&
		(mt.Spec.NodeName == "" || LaunchedOnPod(pod))
}

// ConditionTaskLaunched is the pod condition k8sm sets, before it launches the task of a
// pod bound before it was taken (a DaemonSet's, spec.nodeName), whose binding records no
// launch: so that a manager that lost the MesosTask, which records it too (a new leader
// with the MesosTasks in memory, or MesosTasks deleted), asks Mesos about the task
// before it launches it again.
const ConditionTaskLaunched corev1.PodConditionType = "mesos.k8sm.io/TaskLaunched"

// LaunchedOnPod says whether a pod's status shows its task launched: k8sm recorded the
// launch (ConditionTaskLaunched), or Mesos reported the task (ReportedOnPod).
func LaunchedOnPod(pod *corev1.Pod) bool {
	c := podCondition(&pod.Status, ConditionTaskLaunched)
	return c != nil && c.Status == corev1.ConditionTrue || ReportedOnPod(pod)
}

// MarkLaunched sets ConditionTaskLaunched on a pod's status, at now.
func MarkLaunched(st *corev1.PodStatus, now metav1.Time) {
	if c := podCondition(st, ConditionTaskLaunched); c != nil {
		if c.Status != corev1.ConditionTrue {
			c.Status, c.LastTransitionTime = corev1.ConditionTrue, now
		}
		return
	}
	st.Conditions = append(st.Conditions, corev1.PodCondition{Type: ConditionTaskLaunched, Status: corev1.ConditionTrue,
		LastTransitionTime: now, Reason: "Launched", Message: "k8sm launched the pod's Mesos task"})
}

// MayRun says whether a MesosTask's task may be running in Mesos: it was launched and
// has not ended, or its pod is bound and the MesosTask says nothing yet.
func MayRun(mt *mesosv1alpha1.MesosTask, pod *corev1.Pod) bool {
	if Launched(mt.Status.Phase) {
		return !IsTerminalPhase(mt.Status.Phase)
	}
	return BoundUnrecorded(mt, pod)
}

// LaunchNeedsWrite says whether a launch must be written to the MesosTask before it is
// sent, because the pod's binding does not record it: the MesosTask has a phase already
// (it waited Unschedulable, or Mesos sent it back, and Pending means "not launched"), or
// its pod was bound before it was taken.
func LaunchNeedsWrite(mt *mesosv1alpha1.MesosTask) bool {
	return mt.Status.Phase != "" || mt.Spec.NodeName != ""
}

// BoundByBinding says whether a pod bound to a Node was bound through the Binding
// subresource, as a scheduler binds (k8sm's own, for a pod of its cluster's
// schedulerName): the API server then sets PodScheduled=True with the Node. A pod
// created with spec.nodeName has no PodScheduled condition: the API server clears the
// status a pod is created with.
func BoundByBinding(p *corev1.Pod) bool {
	for i := range p.Status.Conditions {
		if c := &p.Status.Conditions[i]; c.Type == corev1.PodScheduled {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// PodTerminal says whether a pod ended (Succeeded or Failed).
func PodTerminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// MayComeBack says whether the task of a pod bound to the Node of an agent that left may
// still be reported by Mesos (its agent may come back with it, partition-aware): the pod
// has not ended, and its task may run (MayRun), or no MesosTask records its launch yet
// (mt nil: the binding is the launch record). The Node of such a pod's agent is kept:
// deleted, it would have the pod garbage collector delete the pod, whatever its
// tolerations and the manager's --unreachable-timeout, and the task be killed when its
// agent came back.
func MayComeBack(pod *corev1.Pod, mt *mesosv1alpha1.MesosTask) bool {
	return !PodTerminal(pod) && (mt == nil || (mt.Spec.PodUID == string(pod.UID) && MayRun(mt, pod)))
}

// MustKillForEndedPod says whether a task must be killed because its pod ended (Failed
// with NodeLost while its agent was unreachable) while the task came back with the agent:
// nothing may run for a pod that ended.
func MustKillForEndedPod(mt *mesosv1alpha1.MesosTask, pod *corev1.Pod) bool {
	p := mt.Status.Phase
	return PodTerminal(pod) && Launched(p) && !IsTerminalPhase(p) && p != mesosv1alpha1.TaskPhaseKilling
}

// LostForGood says whether a pod whose task Mesos cannot reach is over for Kubernetes:
// it was Failed (NodeLost, UnreachableTooLong) after its task stayed unreachable too
// long. Deleted, it goes then, as a pod deleted after it failed goes at once, instead of
// waiting for a KILL that cannot reach the agent; its MesosTask then lets go of the task
// (ReleasedUnreachable), which is killed when Mesos reports it again.
func LostForGood(mt *mesosv1alpha1.MesosTask, pod *corev1.Pod) bool {
	return mt.Status.Phase == mesosv1alpha1.TaskPhaseUnreachable && PodTerminal(pod)
}

// ReleasedUnreachable says whether a deleted MesosTask lets go of its task, which may
// still run on an agent Mesos cannot reach, because its pod is gone (force-deleted, as
// the StatefulSet documentation tells for a pod of an unreachable Node, or removed by
// the pod garbage collector) or another pod took its name (a StatefulSet's web-0 made
// again). Its KILL cannot reach the agent, and the pod of that name would wait for the
// agent to come back. Mesos reports the task again when its agent registers again
// (TASK_RUNNING, REASON_AGENT_REREGISTERED), and the scheduler then kills it, for no
// MesosTask owns it, before it acknowledges that report.
func ReleasedUnreachable(mt *mesosv1alpha1.MesosTask, pod *corev1.Pod) bool {
	return mt.Status.Phase == mesosv1alpha1.TaskPhaseUnreachable && (pod == nil || pod.UID != types.UID(mt.Spec.PodUID))
}

// ReleasedEvent is what to tell on the MesosTask whose task ReleasedUnreachable lets go.
func ReleasedEvent(mt *mesosv1alpha1.MesosTask) Event {
	return Event{corev1.EventTypeWarning, "Released", "Release", fmt.Sprintf(
		"The pod of task %s is gone while Mesos cannot reach agent %s: the task is let go, and killed as soon as Mesos reports it again",
		mt.Spec.TaskID, agentOf(mt))}
}

// ReleasedDeletedEvent is what to tell on a deleted MesosTask, and its pod, whose task
// is let go after it stayed unreachable too long: its pod is Failed (NodeLost) and no
// KILL can reach the agent.
func ReleasedDeletedEvent(mt *mesosv1alpha1.MesosTask) Event {
	return Event{corev1.EventTypeWarning, "Released", "Release", fmt.Sprintf(
		"Task %s stayed unreachable on agent %s while its MesosTask was deleted: its pod is Failed (NodeLost), and the task is let go, killed as soon as Mesos reports it again",
		mt.Spec.TaskID, agentOf(mt))}
}

// EarlierTaskUnreachableEvent is what to tell a pod that took the name of a pod whose task
// ReleasedUnreachable let go: that task may run beside it until its agent is back.
func EarlierTaskUnreachableEvent(mt *mesosv1alpha1.MesosTask) Event {
	return Event{corev1.EventTypeWarning, "EarlierTaskUnreachable", "Schedule", fmt.Sprintf(
		"Task %s of an earlier pod of the same name may still run on agent %s, which Mesos cannot reach: it is killed as soon as Mesos reports it again",
		mt.Spec.TaskID, agentOf(mt))}
}

// EarlierTaskMessage says why a pod waits: the task of an earlier pod of the same name
// may still run, and is being killed.
func EarlierTaskMessage(mt *mesosv1alpha1.MesosTask) string {
	return fmt.Sprintf("Task %s of an earlier pod of the same name may still run on agent %s: the pod waits until it ended", mt.Spec.TaskID, agentOf(mt))
}

// agentOf names a task's agent for people: its hostname, else its id.
func agentOf(mt *mesosv1alpha1.MesosTask) string {
	switch {
	case mt.Status.Hostname != "":
		return mt.Status.Hostname
	case mt.Status.AgentID != "":
		return mt.Status.AgentID
	}
	return "(unknown)"
}

// RunsAfterEnd says whether Mesos reports running a task that k8sm already took for
// ended (failed, gone, killed or finished): e.g. a task Mesos answered as lost in a
// reconciliation whose agent came back. Its MesosTask stays as it ended, and the task is
// killed, so that nothing runs that Kubernetes shows as over.
func RunsAfterEnd(st *mesosv1alpha1.MesosTaskStatus, state mesos.TaskState) bool {
	if !IsTerminalPhase(st.Phase) {
		return false
	}
	switch state {
	case mesos.TASK_STAGING, mesos.TASK_STARTING, mesos.TASK_RUNNING:
		return true
	}
	return false
}

// SetLaunched records a launch in a MesosTask's status: Staging on the agent, since when.
func SetLaunched(st *mesosv1alpha1.MesosTaskStatus, l Launch, generation int64) {
	st.Phase = mesosv1alpha1.TaskPhaseStaging
	st.PodPhase = corev1.PodPending
	st.Reason, st.Message = "", ""
	st.ObservedGeneration = generation
	FillLaunch(st, l, generation)
}

// FillLaunch fills in where and when a task was launched, where its status does not say,
// and says whether it changed anything.
func FillLaunch(st *mesosv1alpha1.MesosTaskStatus, l Launch, generation int64) bool {
	before := st.DeepCopy()
	if st.AgentID == "" {
		st.AgentID = Clamp(l.AgentID, MaxIDLength)
	}
	if st.Hostname == "" {
		st.Hostname = Clamp(l.Hostname, MaxHostnameLength)
	}
	if st.ExecutorID == "" {
		st.ExecutorID = Clamp(l.ExecutorID, MaxIDLength)
	}
	if st.LaunchedAt == nil {
		at := l.At
		st.LaunchedAt = &at
	}
	if !meta.IsStatusConditionTrue(st.Conditions, mesosv1alpha1.TaskConditionScheduled) && st.Hostname != "" {
		setScheduled(st, metav1.ConditionTrue, ReasonLaunched, "Launched on agent "+st.Hostname, generation)
	}
	return !equality.Semantic.DeepEqual(before, st)
}

// LaunchFilled says whether a status already says where and when its task was launched.
func LaunchFilled(st *mesosv1alpha1.MesosTaskStatus) bool {
	return st.Hostname != "" && st.LaunchedAt != nil && meta.IsStatusConditionTrue(st.Conditions, mesosv1alpha1.TaskConditionScheduled)
}

// SetNotLaunched puts a task whose launch did not happen back to Pending.
func SetNotLaunched(st *mesosv1alpha1.MesosTaskStatus) {
	st.Phase = mesosv1alpha1.TaskPhasePending
	st.LaunchedAt = nil
}

// SetUnschedulable records in a MesosTask's status why no offer fits, and says whether
// that changed it (the same explanation is not written twice).
func SetUnschedulable(st *mesosv1alpha1.MesosTaskStatus, why string, generation int64) bool {
	why = Clamp(why, MaxMessageLength)
	c := meta.FindStatusCondition(st.Conditions, mesosv1alpha1.TaskConditionScheduled)
	if c != nil && c.Reason == mesosv1alpha1.ReasonUnschedulable && c.Message == why && st.Phase == mesosv1alpha1.TaskPhasePending {
		return false
	}
	st.Phase, st.PodPhase, st.Message = mesosv1alpha1.TaskPhasePending, corev1.PodPending, why
	setScheduled(st, metav1.ConditionFalse, mesosv1alpha1.ReasonUnschedulable, why, generation)
	return true
}

// SetPodUnschedulable is the pod side of SetUnschedulable: PodScheduled=False with
// kube-scheduler's reason, which `kubectl describe pod` shows.
func SetPodUnschedulable(ps *corev1.PodStatus, why string) {
	SetPodCondition(ps, corev1.PodScheduled, corev1.ConditionFalse, corev1.PodReasonUnschedulable, why)
}

// SetInvalid fails a task whose pod cannot be launched at all (it cannot be translated).
func SetInvalid(st *mesosv1alpha1.MesosTaskStatus, err error) {
	st.Phase, st.PodPhase = mesosv1alpha1.TaskPhaseFailed, corev1.PodFailed
	st.Reason, st.Message = ReasonInvalidPod, Clamp(err.Error(), MaxMessageLength)
}

// NotAdmittedMessage says why a pod bound to an agent's Node of a cluster that does not
// take its namespace fails.
func NotAdmittedMessage(cluster, namespace, node string) string {
	return NamespaceNotTakenMessage(cluster, namespace) + "; nothing runs pods on Node " + node
}

// SetNotAdmitted fails a pod as a kubelet fails a pod it does not admit.
func SetNotAdmitted(ps *corev1.PodStatus, msg string) {
	ps.Phase, ps.Reason, ps.Message = corev1.PodFailed, ReasonNamespaceNotAllowed, msg
}

// setScheduled sets a MesosTask's Scheduled condition.
func setScheduled(st *mesosv1alpha1.MesosTaskStatus, status metav1.ConditionStatus, reason, msg string, generation int64) {
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: mesosv1alpha1.TaskConditionScheduled, Status: status,
		Reason: reason, Message: msg, ObservedGeneration: generation})
}

// Event is an event to record for a person.
type Event struct {
	Type, Reason, Action, Message string
}

// PodPhaseEvent is what to tell people when their pod's phase changed to what the
// MesosTask says; ok is false for a phase that needs no word.
func PodPhaseEvent(phase corev1.PodPhase, mt *mesosv1alpha1.MesosTask) (ev Event, ok bool) {
	id, st := mt.Spec.TaskID, &mt.Status
	switch phase {
	case corev1.PodRunning:
		return Event{corev1.EventTypeNormal, "Running", "Run", fmt.Sprintf("Task %s is running on agent %s", id, st.Hostname)}, true
	case corev1.PodSucceeded:
		return Event{corev1.EventTypeNormal, "Finished", "Run", fmt.Sprintf("Task %s finished", id)}, true
	case corev1.PodFailed:
		return Event{corev1.EventTypeWarning, "Failed", "Run", fmt.Sprintf("Task %s is %s: %s %s", id, st.MesosState, st.Reason, st.Message)}, true
	}
	return Event{}, false
}

// RemovedEvent is what to tell people when a deleted pod is removed because its task
// ended, on the task's terminal update; ok is false when the task never ran or has not
// ended (mt nil, or no Mesos state).
func RemovedEvent(mt *mesosv1alpha1.MesosTask) (ev Event, ok bool) {
	if mt == nil || mt.Status.MesosState == "" || !IsTerminalPhase(mt.Status.Phase) {
		return Event{}, false
	}
	return Event{corev1.EventTypeNormal, "Killed", "Kill",
		fmt.Sprintf("Task %s ended (%s) after the pod's deletion; the pod is removed", mt.Spec.TaskID, mt.Status.MesosState)}, true
}

// KillReaches says whether a KILL can reach a task Mesos reports in a state: not once it
// ended, nor while its agent is unreachable or Mesos does not know it (TASK_UNREACHABLE,
// TASK_UNKNOWN): Mesos answers such a KILL with a reconciliation, the same state again.
func KillReaches(s mesos.TaskState) bool {
	return !IsTerminal(s) && s != mesos.TASK_UNREACHABLE && s != mesos.TASK_UNKNOWN
}
