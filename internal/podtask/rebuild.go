package podtask

import (
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// FromPod fills a MesosTask status made for a bound pod whose launch no record of this
// process remembers (an earlier manager launched it, and its MesosTask is not there: not
// written yet, or lost) with what the pod says of its task, before Mesos's first update
// of it is applied:
//   - launchedAt: the pod's startTime, which the manager wrote from it, else when the
//     pod says its task was launched (ConditionTaskLaunched, on a pod bound before it
//     was taken) or was bound (PodScheduled=True);
//   - mesosState, where the pod shows that Mesos reported the task (ReportedOnPod):
//     TASK_RUNNING for a pod that ran, else TASK_STARTING. Mesos's word that it holds no
//     such task is then the task's end, and the pod fails, as it would have with its
//     MesosTask there, where an empty mesosState would take it for a launch Mesos never
//     ran, and launch the pod again;
//   - startedAt, for a pod that ran: when its first container started, else when the
//     pod became ready to start containers.
//
// Nothing is filled that the status says already.
func FromPod(st *mesosv1alpha1.MesosTaskStatus, pod *corev1.Pod) {
	if st.LaunchedAt == nil {
		launched, bound := podCondition(&pod.Status, ConditionTaskLaunched), podCondition(&pod.Status, corev1.PodScheduled)
		switch {
		case pod.Status.StartTime != nil:
			st.LaunchedAt = pod.Status.StartTime.DeepCopy()
		case launched != nil && launched.Status == corev1.ConditionTrue && !launched.LastTransitionTime.IsZero():
			st.LaunchedAt = launched.LastTransitionTime.DeepCopy()
		case bound != nil && bound.Status == corev1.ConditionTrue && !bound.LastTransitionTime.IsZero():
			st.LaunchedAt = bound.LastTransitionTime.DeepCopy()
		}
	}
	ran, reported := ranOnPod(pod), ReportedOnPod(pod)
	if st.MesosState == "" && reported {
		st.MesosState = mesos.TASK_STARTING.String()
		if ran {
			st.MesosState = mesos.TASK_RUNNING.String()
		}
	}
	if st.StartedAt == nil && ran {
		st.StartedAt = firstStart(pod)
	}
}

// ranOnPod says whether a pod's status shows that its task ran: the pod Running, or
// ended, or a container of it started.
func ranOnPod(pod *corev1.Pod) bool {
	switch pod.Status.Phase {
	case corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed:
		return true
	}
	return containersStart(pod) != nil
}

// ReportedOnPod says whether a pod's status shows that Mesos reported its task: it ran
// (ranOnPod), or the executor said its sandbox was ready, or sent container statuses.
func ReportedOnPod(pod *corev1.Pod) bool {
	c := podCondition(&pod.Status, corev1.PodReadyToStartContainers)
	return ranOnPod(pod) || (c != nil && c.Status == corev1.ConditionTrue) ||
		len(pod.Status.ContainerStatuses) > 0 || len(pod.Status.InitContainerStatuses) > 0
}

// firstStart is when the first of a pod's containers started, as its statuses say, else
// when the pod became ready to start containers; nil where neither says.
func firstStart(pod *corev1.Pod) *metav1.Time {
	if first := containersStart(pod); first != nil {
		return first
	}
	if c := podCondition(&pod.Status, corev1.PodReadyToStartContainers); c != nil && c.Status == corev1.ConditionTrue && !c.LastTransitionTime.IsZero() {
		return c.LastTransitionTime.DeepCopy()
	}
	return nil
}

// containersStart is when the first of a pod's containers started, as its statuses
// say; nil where none says.
func containersStart(pod *corev1.Pod) *metav1.Time {
	var first *metav1.Time
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range list {
			var at metav1.Time
			switch {
			case cs.State.Running != nil:
				at = cs.State.Running.StartedAt
			case cs.State.Terminated != nil:
				at = cs.State.Terminated.StartedAt
			}
			if !at.IsZero() && (first == nil || at.Before(first)) {
				first = at.DeepCopy()
			}
		}
	}
	return first
}

// Remade is the MesosTask a new leader that keeps the MesosTasks in memory (and so holds
// none of its predecessor's) makes for a bound pod before it asks Mesos about the pod's
// task: NewMesosTask, what the pod says of the task (FromPod), the phase of that state,
// and where the task runs (the pod's Node's agent) with the cluster's executor, as the
// record made from Mesos's answer would say. A reconciliation answer that says the same
// then changes nothing (ApplyUpdate), and a new leader writes nothing for the tasks that
// run on as they did; so does its health, for a pod with probes (healthOnPod). ok is
// false where the pod does not show that Mesos reported its task (ReportedOnPod):
// Mesos's answer makes that record, as for a launch.
func Remade(pod *corev1.Pod, mc *mesosv1alpha1.MesosCluster, agentID, hostname string, now metav1.Time) (mt *mesosv1alpha1.MesosTask, ok bool) {
	if agentID == "" || !ReportedOnPod(pod) {
		return nil, false
	}
	mt, err := NewMesosTask(pod, mc, "")
	if err != nil {
		return nil, false
	}
	FromPod(&mt.Status, pod)
	st := &mt.Status
	st.Phase = PhaseFor(mesos.TaskState(mesos.TaskState_value[st.MesosState]))
	st.PodPhase = PodPhaseFor(st.Phase, pod.Status.Phase)
	FillLaunch(st, Launch{AgentID: agentID, Hostname: hostname, ExecutorID: mt.Spec.ExecutorID, At: now}, 0)
	st.Healthy = healthOnPod(pod)
	st.LastUpdateTime = now.DeepCopy()
	return mt, true
}

// healthOnPod is the health the executor last reported with a task, as its pod shows it:
// for a pod with probes, whether its containers are ready (the executor's updates say
// so as their healthy field), else nil, as they say nothing.
func healthOnPod(pod *corev1.Pod) *bool {
	probed := false
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			probed = probed || list[i].ReadinessProbe != nil || list[i].LivenessProbe != nil
		}
	}
	if !probed {
		return nil
	}
	c := podCondition(&pod.Status, corev1.ContainersReady)
	if c == nil {
		c = podCondition(&pod.Status, corev1.PodReady)
	}
	ready := c != nil && c.Status == corev1.ConditionTrue
	return &ready
}
