package podtask

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// Pod condition reasons k8sm sets.
const (
	ReasonNodeLost         = "NodeLost"
	ReasonAgentUnreachable = "MesosAgentUnreachable"
	ReasonTaskGone         = "MesosTaskGone"
	// ReasonContainerStatusUnknown ends a container whose end nobody reported (a
	// kubelet's reason for the same).
	ReasonContainerStatusUnknown = "ContainerStatusUnknown"
)

// ConditionResourceLimitsEnforced is the pod condition the executor's process runtime
// reports (process.ConditionResourceLimitsEnforced, the same type): False, with the
// reason and the limits not enforced, where the agent's cgroups cannot hold the pod to
// its limits; True where they do. Pods without limits, and other runtimes, have none.
const ConditionResourceLimitsEnforced corev1.PodConditionType = "mesos.k8sm.io/ResourceLimitsEnforced"

// ReasonResourceLimitsNotEnforced is the Warning event recorded on a pod whose
// ConditionResourceLimitsEnforced turns False.
const ReasonResourceLimitsNotEnforced = "ResourceLimitsNotEnforced"

// executorConditions are the pod conditions of the executor's status that the pod gets
// as they are: the executor alone knows them.
var executorConditions = []corev1.PodConditionType{ConditionResourceLimitsEnforced}

// PhaseFor is the MesosTask phase of a Mesos task state (the state table in docs/mesos-mapping.md).
func PhaseFor(s mesos.TaskState) mesosv1alpha1.TaskPhase {
	switch s {
	case mesos.TASK_STAGING:
		return mesosv1alpha1.TaskPhaseStaging
	case mesos.TASK_STARTING:
		return mesosv1alpha1.TaskPhaseStarting
	case mesos.TASK_RUNNING:
		return mesosv1alpha1.TaskPhaseRunning
	case mesos.TASK_KILLING:
		return mesosv1alpha1.TaskPhaseKilling
	case mesos.TASK_FINISHED:
		return mesosv1alpha1.TaskPhaseFinished
	case mesos.TASK_FAILED, mesos.TASK_ERROR:
		return mesosv1alpha1.TaskPhaseFailed
	case mesos.TASK_KILLED:
		return mesosv1alpha1.TaskPhaseKilled
	case mesos.TASK_DROPPED:
		return mesosv1alpha1.TaskPhasePending
	case mesos.TASK_UNREACHABLE, mesos.TASK_LOST:
		return mesosv1alpha1.TaskPhaseUnreachable
	default: // TASK_GONE, TASK_GONE_BY_OPERATOR, TASK_UNKNOWN
		return mesosv1alpha1.TaskPhaseGone
	}
}

// IsTerminal says whether Mesos considers a task state final.
func IsTerminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR,
		mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}

// IsTerminalPhase says whether a MesosTask phase is final: the task will not run again.
func IsTerminalPhase(p mesosv1alpha1.TaskPhase) bool {
	switch p {
	case mesosv1alpha1.TaskPhaseFinished, mesosv1alpha1.TaskPhaseFailed, mesosv1alpha1.TaskPhaseKilled, mesosv1alpha1.TaskPhaseGone:
		return true
	}
	return false
}

// exitedZero says whether every container status says the container ended with exit
// code 0 (and there is one): how a kubelet finds a deleted pod Succeeded (its getPhase,
// once the pod is terminal: init containers and sidecars aside). A Job counts such a
// pod as a completion.
func exitedZero(cs []corev1.ContainerStatus) bool {
	if len(cs) == 0 {
		return false
	}
	for _, c := range cs {
		if t := c.State.Terminated; t == nil || t.ExitCode != 0 {
			return false
		}
	}
	return true
}

// launchRank orders the phases of a task on its way up; 0 for the others.
func launchRank(p mesosv1alpha1.TaskPhase) int {
	switch p {
	case mesosv1alpha1.TaskPhaseStaging:
		return 1
	case mesosv1alpha1.TaskPhaseStarting:
		return 2
	case mesosv1alpha1.TaskPhaseRunning:
		return 3
	case mesosv1alpha1.TaskPhaseKilling:
		return 4
	}
	return 0
}

// ApplyUpdate records a Mesos update in a MesosTask status and says whether anything
// changed: phase, pod phase, mesosState (e.g. TASK_RUNNING), agentID, reason (e.g.
// REASON_EXECUTOR_TERMINATED), message, source, lastUpdateUUID (the update's uuid in
// lowercase hex; master updates have none and keep the previous one), healthy, startedAt
// (first RUNNING), finishedAt (terminal) and lastUpdateTime (= now, when anything
// changed). Applying the same update twice changes nothing, a task that ended is not
// moved back by an older update sent again, and a launched task does not go back from
// RUNNING to STARTING. A launch Mesos refused because it still holds the task's id
// (IDTaken) is not the task's end either: it goes back to Pending, as a launch Mesos
// never ran does, or, once Mesos reported on the task, changes nothing. Strings are cut to the MesosTask's bounds (Clamp).
func ApplyUpdate(st *mesosv1alpha1.MesosTaskStatus, ts mesos.TaskStatus, now metav1.Time) bool {
	state := ts.GetState()
	if IsTerminalPhase(st.Phase) {
		// A task ends once: what Mesos says after (a reconciliation answer, the answer
		// to a KILL sent again) changes nothing.
		return false
	}
	before := st.DeepCopy()
	if neverSeen(st, ts) {
		st.Phase, st.PodPhase = mesosv1alpha1.TaskPhasePending, corev1.PodPending
		st.LaunchedAt = nil
		st.Reason, st.Message = Clamp(ts.GetReason().String(), MaxReasonLength), "Mesos never ran the launch ("+Clamp(state.String(), MaxStateLength)+"); launching again"
		return !equality.Semantic.DeepEqual(before, st)
	}
	if IDTaken(ts) {
		if st.MesosState != "" && st.MesosState != mesos.TASK_DROPPED.String() {
			// Mesos reported on the task: the refusal is of a launch sent again (from a
			// queue that had not seen the first), and says nothing of the task that holds
			// the id, which Mesos reports on by itself.
			return false
		}
		// Nothing since the launch (or since Mesos dropped the one before), which Mesos
		// refused: the task this process knows of never ran, and Mesos holds an earlier
		// one of the id (usually a launch it never ran, whose end is not acknowledged yet).
		st.Phase, st.PodPhase = mesosv1alpha1.TaskPhasePending, corev1.PodPending
		st.LaunchedAt = nil
		st.Reason = Clamp(ts.GetReason().String(), MaxReasonLength)
		st.Message = Clamp("Mesos still holds an earlier task of this id ("+ts.GetMessage()+"); launching again", MaxMessageLength)
		return !equality.Semantic.DeepEqual(before, st)
	}
	phase := PhaseFor(state)
	if state == mesos.TASK_LOST && !unreachableLost(ts) {
		// What a framework that is not PARTITION_AWARE hears instead of TASK_GONE,
		// TASK_GONE_BY_OPERATOR, TASK_DROPPED or TASK_UNKNOWN: an agent marked gone
		// (Master::__removeSlave, markGone: REASON_SLAVE_REMOVED without unreachable_time),
		// an agent that restarted without checkpointing, an executor that ended before
		// the task ran (the agent), a reconciliation about a task Mesos does not know
		// (Master::reconcile's cases 3, 5 and 6). The task is gone, not unreachable, and
		// the pod fails now rather than after --unreachable-timeout. A task recorded
		// TASK_LOST already (its agent was unreachable) ends so too: the state is the same,
		// the phase is not. With unreachable_time its agent is unreachable (__removeSlave,
		// reconcile's case 4), and the task may come back with it: it stays Unreachable.
		phase = mesosv1alpha1.TaskPhaseGone
	}
	if ts.GetReason() == mesos.REASON_RECONCILIATION && st.MesosState == state.String() && st.Phase == phase &&
		(st.UnreachableSince != nil || unreachableSince(ts, now) == nil) && sameAsRecorded(st, ts) {
		// A reconciliation answer that says what is known already.
		return false
	}
	if launchRank(phase) < launchRank(st.Phase) && launchRank(phase) > 0 {
		// An update from before the one recorded, sent again: launch states only go
		// forward (STAGING, STARTING, RUNNING, KILLING).
		return false
	}
	st.Phase = phase
	st.PodPhase = PodPhaseFor(phase, st.PodPhase)
	st.MesosState = Clamp(state.String(), MaxStateLength)
	if ts.AgentID != nil && ts.AgentID.Value != "" {
		st.AgentID = Clamp(ts.AgentID.Value, MaxIDLength)
	}
	if ts.ExecutorID != nil && ts.ExecutorID.Value != "" {
		st.ExecutorID = Clamp(ts.ExecutorID.Value, MaxIDLength)
	}
	st.Reason, st.Message, st.Source = "", Clamp(ts.GetMessage(), MaxMessageLength), ""
	if ts.Reason != nil {
		st.Reason = Clamp(ts.Reason.String(), MaxReasonLength)
	}
	if ts.Source != nil {
		st.Source = Clamp(ts.Source.String(), MaxStateLength)
	}
	if len(ts.UUID) > 0 {
		st.LastUpdateUUID = hex.EncodeToString(ts.UUID[:min(len(ts.UUID), MaxUUIDLength/2)])
	}
	if ts.Healthy != nil {
		h := *ts.Healthy
		st.Healthy = &h
	}
	if phase == mesosv1alpha1.TaskPhaseRunning && st.StartedAt == nil {
		st.StartedAt = now.DeepCopy()
	}
	if IsTerminalPhase(phase) && st.FinishedAt == nil {
		st.FinishedAt = now.DeepCopy()
	}
	if phase == mesosv1alpha1.TaskPhasePending {
		st.LaunchedAt = nil
	}
	if phase != mesosv1alpha1.TaskPhaseUnreachable {
		st.UnreachableSince = nil
	} else if since := unreachableSince(ts, now); since != nil {
		st.UnreachableSince = since
	}
	if equality.Semantic.DeepEqual(before, st) {
		return false
	}
	st.LastUpdateTime = now.DeepCopy()
	return true
}

// sameAsRecorded says whether a status names the agent and executor an update names,
// and its health, where the update says them: a record a new leader made from its pod
// (Remade) has the cluster's executor and the health the pod shows, which Mesos's
// answer may correct.
func sameAsRecorded(st *mesosv1alpha1.MesosTaskStatus, ts mesos.TaskStatus) bool {
	if ts.AgentID != nil && ts.AgentID.Value != "" && st.AgentID != Clamp(ts.AgentID.Value, MaxIDLength) {
		return false
	}
	if ts.ExecutorID != nil && ts.ExecutorID.Value != "" && st.ExecutorID != Clamp(ts.ExecutorID.Value, MaxIDLength) {
		return false
	}
	return ts.Healthy == nil || st.Healthy != nil && *st.Healthy == *ts.Healthy
}

// unreachableSince is when Mesos marked an update's agent unreachable (its
// unreachable_time, in the master's clock), to the second, as a MesosTask keeps it; never
// after now. Nil when the update does not say.
func unreachableSince(ts mesos.TaskStatus, now metav1.Time) *metav1.Time {
	if ts.UnreachableTime == nil {
		return nil
	}
	t := time.Unix(0, ts.UnreachableTime.Nanoseconds).Truncate(time.Second)
	if t.After(now.Time) {
		t = now.Truncate(time.Second)
	}
	return &metav1.Time{Time: t}
}

// PodStatusFor is the pod status a MesosTask implies (the state table in docs/mesos-mapping.md), starting
// from the pod's current status: Pending with PodScheduled=False/Unschedulable while no
// offer fits, Pending and PodScheduled once launched, Running with the container
// statuses, IPs and Ready the executor sent (a JSON PodStatus in the update's data;
// malformed data is ignored and what is known kept), Succeeded, Failed with Mesos's
// reason and message, Ready=False while the agent is unreachable (UnreachableTooLong
// turns that into Failed/NodeLost), and Failed when the task is gone.
func PodStatusFor(pod *corev1.Pod, st *mesosv1alpha1.MesosTaskStatus, data []byte) corev1.PodStatus {
	out := *pod.Status.DeepCopy()
	if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		// A pod that ended stays as it ended (e.g. Failed/NodeLost while its agent was
		// unreachable), whatever its task reports after: it came back, or was killed.
		return out
	}
	var fromExecutor *corev1.PodStatus
	if len(data) > 0 {
		var ps corev1.PodStatus
		if err := json.Unmarshal(data, &ps); err == nil {
			fromExecutor = &ps
		}
	}
	if fromExecutor != nil {
		mergeExecutorStatus(&out, fromExecutor)
	}
	if out.StartTime == nil && st.LaunchedAt != nil {
		out.StartTime = st.LaunchedAt.DeepCopy()
	}
	out.Phase = PodPhaseFor(st.Phase, pod.Status.Phase)
	out.Reason, out.Message = "", ""
	// A deleted pod whose containers all exited 0 as they were stopped: Succeeded, as a
	// kubelet ends it. A pod killed without its deletion (the executor stopped, the agent
	// drained) is Failed, as a kubelet's is when its node shuts down.
	stoppedInSuccess := st.Phase == mesosv1alpha1.TaskPhaseKilled && !pod.DeletionTimestamp.IsZero() && exitedZero(out.ContainerStatuses)
	if stoppedInSuccess {
		out.Phase = corev1.PodSucceeded
	}

	ready := corev1.ConditionFalse
	switch st.Phase {
	case mesosv1alpha1.TaskPhaseRunning, mesosv1alpha1.TaskPhaseKilling:
		// A deleted pod serves on through its grace period while its probes say so, as
		// a kubelet's does (an EndpointSlice lists it as serving while Ready is True).
		// A pod killed without its deletion leaves its Services' endpoints at once.
		if st.Phase == mesosv1alpha1.TaskPhaseKilling && pod.DeletionTimestamp.IsZero() {
			break
		}
		ready = runningReadiness(pod, &out, fromExecutor)
		if st.Healthy != nil && !*st.Healthy {
			ready = corev1.ConditionFalse
		}
	case mesosv1alpha1.TaskPhaseFailed, mesosv1alpha1.TaskPhaseKilled:
		if !stoppedInSuccess {
			out.Reason, out.Message = st.Reason, st.Message
			if out.Reason == "" && fromExecutor != nil {
				// The executor's own reason where Mesos gives none, as a kubelet's
				// DeadlineExceeded for activeDeadlineSeconds.
				out.Reason = Clamp(fromExecutor.Reason, MaxReasonLength)
			}
		}
	case mesosv1alpha1.TaskPhaseGone:
		out.Reason, out.Message = ReasonTaskGone, st.MesosState+": "+st.Message
		if EndedWithoutMesos(st) {
			// Mesos said nothing of the task: the removal of its framework, or of its
			// Node, ended it.
			out.Reason, out.Message = st.Reason, st.Message
		}
	case mesosv1alpha1.TaskPhaseUnreachable:
		out.Reason, out.Message = ReasonAgentUnreachable, "Mesos cannot reach the agent ("+st.MesosState+")"
	}
	if IsTerminalPhase(st.Phase) {
		endContainers(&out)
	}
	if out.Phase == corev1.PodFailed && Disrupted(pod, st) {
		markDisrupted(&out, disruptionMessage(st))
	}
	if st.Phase != mesosv1alpha1.TaskPhasePending {
		SetPodCondition(&out, corev1.PodScheduled, corev1.ConditionTrue, "", "")
		setReadyToStart(&out, st.Phase, fromExecutor)
	}
	if st.Phase == mesosv1alpha1.TaskPhasePending {
		if c := meta.FindStatusCondition(st.Conditions, mesosv1alpha1.TaskConditionScheduled); c != nil &&
			c.Status == metav1.ConditionFalse && c.Reason == mesosv1alpha1.ReasonUnschedulable {
			SetPodCondition(&out, corev1.PodScheduled, corev1.ConditionFalse, corev1.PodReasonUnschedulable, c.Message)
		}
		return out
	}
	setInitialized(pod, &out, st.Phase)
	readyReason := ""
	if ready == corev1.ConditionFalse && st.Phase == mesosv1alpha1.TaskPhaseUnreachable {
		readyReason = ReasonAgentUnreachable
	}
	setReadiness(pod, &out, ready, readyReason)
	return out
}

// FinalPodStatus is the status a deleted pod is given before it is removed, as a kubelet
// writes a pod's terminal phase before it deletes the pod (its status manager's
// canBeDeleted), so that the pod's owners count its end: a Job whose
// podReplacementPolicy is Failed (the default with a podFailurePolicy) keeps its
// finalizer on a pod until the pod is Failed, and any Job takes a pod removed without a
// terminal phase for failed. A pod whose task ended gets the status of that end
// (PodStatusFor, with the executor's last data: Succeeded when the task finished, or was
// killed for the deletion with every container exiting 0, else Failed). One whose task never ran, or is not known to have ended (st nil, or not
// terminal), is Failed, as a kubelet's TerminatePod and the pod garbage collector leave a
// pod deleted before it ran: no reason of its own, not ready. A pod that ended already
// keeps its status.
func FinalPodStatus(pod *corev1.Pod, st *mesosv1alpha1.MesosTaskStatus, data []byte) corev1.PodStatus {
	if st != nil && IsTerminalPhase(st.Phase) {
		return PodStatusFor(pod, st, data)
	}
	out := *pod.Status.DeepCopy()
	if PodTerminal(pod) {
		return out
	}
	failPod(&out)
	return out
}

// failPod makes a pod status Failed as a kubelet's TerminatePod leaves a pod whose end
// it does not know: not ready (reason PodFailed), its containers ended (endContainers).
func failPod(out *corev1.PodStatus) {
	out.Phase = corev1.PodFailed
	for _, t := range []corev1.PodConditionType{corev1.ContainersReady, corev1.PodReady} {
		if podCondition(out, t) != nil {
			SetPodCondition(out, t, corev1.ConditionFalse, ReasonPodFailed, "")
		}
	}
	endContainers(out)
}

// runningReadiness is the readiness of a running pod (its status out has the executor's
// container statuses of this update merged in): what the executor says in this update, or
// else what it said last, which its container statuses keep: an update without data (the
// master's, a reconciliation answer, every 15 minutes and after each subscription) says
// nothing of readiness, and must not make a pod the executor found not ready Ready. The
// pod's own conditions cannot tell that: k8sm writes its own verdicts over them (an
// unreachable agent, a failed health check). A container's readiness is the executor's
// (as a kubelet's ContainersReady, every container ready, native sidecars included). A
// pod its executor never reported on is ready once its task runs.
func runningReadiness(pod *corev1.Pod, out, fromExecutor *corev1.PodStatus) corev1.ConditionStatus {
	if fromExecutor != nil {
		// Its containers' readiness: a kubelet's Ready also weighs readiness gates, which
		// the pod's own status here answers (setReadiness).
		for _, t := range []corev1.PodConditionType{corev1.ContainersReady, corev1.PodReady} {
			if c := podCondition(fromExecutor, t); c != nil {
				return c.Status
			}
		}
	}
	for _, c := range out.ContainerStatuses {
		if !c.Ready {
			return corev1.ConditionFalse
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if !isSidecar(c) {
			continue
		}
		for _, cs := range out.InitContainerStatuses {
			if cs.Name == c.Name && !cs.Ready {
				return corev1.ConditionFalse
			}
		}
	}
	return corev1.ConditionTrue
}

// mergeExecutorStatus takes what the executor knows of a pod into its status: container
// statuses, start time, IPs, and the executorConditions (the others k8sm derives).
func mergeExecutorStatus(out, from *corev1.PodStatus) {
	if len(from.ContainerStatuses) > 0 {
		out.ContainerStatuses = from.ContainerStatuses
	}
	if len(from.InitContainerStatuses) > 0 {
		out.InitContainerStatuses = from.InitContainerStatuses
	}
	if from.StartTime != nil && out.StartTime == nil {
		out.StartTime = from.StartTime.DeepCopy()
	}
	if from.PodIP != "" {
		out.PodIP, out.PodIPs = from.PodIP, from.PodIPs
	}
	if from.HostIP != "" {
		out.HostIP, out.HostIPs = from.HostIP, from.HostIPs
	}
	for _, c := range from.Conditions {
		if slices.Contains(executorConditions, c.Type) {
			SetPodCondition(out, c.Type, c.Status, c.Reason, c.Message)
		}
	}
}

// ResourceLimitsEvent is the Warning event to record when a pod's status changes from
// before to after and its ConditionResourceLimitsEnforced turns False (from absent,
// True or Unknown): the pod runs without some of its limits enforced. ok is false
// otherwise, so that a pod is told once, not on every status write.
func ResourceLimitsEvent(before, after *corev1.PodStatus) (ev Event, ok bool) {
	now := podCondition(after, ConditionResourceLimitsEnforced)
	if now == nil || now.Status != corev1.ConditionFalse {
		return Event{}, false
	}
	if was := podCondition(before, ConditionResourceLimitsEnforced); was != nil && was.Status == corev1.ConditionFalse {
		return Event{}, false
	}
	// An event's note is at most 1 kB (events.k8s.io/v1); the condition has it whole.
	return Event{corev1.EventTypeWarning, ReasonResourceLimitsNotEnforced, "Run",
		Clamp(fmt.Sprintf("The pod runs without its resource limits enforced (%s): %s", now.Reason, now.Message), 1024)}, true
}

func podCondition(s *corev1.PodStatus, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

// UnreachableTooLong turns the status of a pod whose agent stayed unreachable past the
// timeout into Failed with reason NodeLost: not ready, and no container said to run
// (failPod), for nothing runs for a pod that ended (its task is killed if it comes back).
func UnreachableTooLong(s *corev1.PodStatus) {
	failPod(s)
	s.Reason, s.Message = ReasonNodeLost, "The Mesos agent running the pod stayed unreachable"
	markDisrupted(s, s.Message)
}

// PodReady says whether a pod status's Ready condition is True.
func PodReady(s *corev1.PodStatus) bool {
	return conditionOf(s, corev1.PodReady, corev1.ConditionFalse) == corev1.ConditionTrue
}

func conditionOf(s *corev1.PodStatus, t corev1.PodConditionType, def corev1.ConditionStatus) corev1.ConditionStatus {
	for _, c := range s.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return def
}

// SetPodCondition sets a pod condition, keeping its transition time when its status stays.
func SetPodCondition(s *corev1.PodStatus, t corev1.PodConditionType, status corev1.ConditionStatus, reason, msg string) {
	now := metav1.Now()
	for i := range s.Conditions {
		c := &s.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message = status, reason, msg
		return
	}
	s.Conditions = append(s.Conditions, corev1.PodCondition{Type: t, Status: status, Reason: reason, Message: msg, LastTransitionTime: now})
}

// PodStatusChanged says whether two pod statuses differ in more than condition times,
// so that callers write a pod status only when something a person sees changed. It
// copies neither (it is asked for every update, and a new leader asks it of every pod
// as Mesos answers its reconciliation): the conditions are compared one by one without
// their times, the rest as a whole without them.
func PodStatusChanged(a, b *corev1.PodStatus) bool {
	if len(a.Conditions) != len(b.Conditions) {
		return true
	}
	for i := range a.Conditions {
		x, y := a.Conditions[i], b.Conditions[i]
		x.LastTransitionTime, x.LastProbeTime = metav1.Time{}, metav1.Time{}
		y.LastTransitionTime, y.LastProbeTime = metav1.Time{}, metav1.Time{}
		if x != y {
			return true
		}
	}
	x, y := *a, *b
	x.Conditions, y.Conditions = nil, nil
	return !equality.Semantic.DeepEqual(&x, &y)
}

// MirrorToPod says whether an update is worth a write of pod's status. While a task is on
// its way up (STAGING, STARTING) its bound pod already says Pending and PodScheduled, so
// such an update is written only when the executor reports container statuses (an image
// being pulled, say): a pod gets one status write on its way to Running instead of two.
// Not so for a pod that says its agent is unreachable: the agent is back.
func MirrorToPod(pod *corev1.Pod, st *mesosv1alpha1.MesosTaskStatus, data []byte) bool {
	if st.Phase != mesosv1alpha1.TaskPhaseStaging && st.Phase != mesosv1alpha1.TaskPhaseStarting ||
		pod.Status.Reason == ReasonAgentUnreachable {
		return true
	}
	var ps corev1.PodStatus
	if len(data) == 0 || json.Unmarshal(data, &ps) != nil {
		return false
	}
	return len(ps.ContainerStatuses) > 0 || len(ps.InitContainerStatuses) > 0
}
