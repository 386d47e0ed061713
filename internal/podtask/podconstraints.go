package podtask

import (
	"errors"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// podConstraintFields names the fields of an unbound pod that tie where it may run to
// other pods in a way placement does not read: required pod affinity, required pod
// anti-affinity terms whose namespaces are chosen by their labels (a namespace
// selector that is not empty), and topology spread constraints that are DoNotSchedule.
// Placed without them, three replicas meant for three agents could run on one. Required
// anti-affinity otherwise is placement's (AntiAffinityTerms). Preferred terms and
// ScheduleAnyway constraints are kube-scheduler's scores, not its filters: a pod with
// them runs, and they are ignored. A pod bound to a Node is not looked at: it was placed
// by others, and a kubelet admits it without looking at other pods either. nil means
// none.
func podConstraintFields(pod *corev1.Pod) []string {
	if pod.Spec.NodeName != "" {
		return nil
	}
	var fields []string
	if a := pod.Spec.Affinity; a != nil {
		if a.PodAffinity != nil && len(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 {
			fields = append(fields, "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution")
		}
		if a.PodAntiAffinity != nil {
			for i := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
				if namespaceSelectorByLabels(&a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[i]) {
					fields = append(fields, "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution["+strconv.Itoa(i)+"].namespaceSelector")
				}
			}
		}
	}
	for i, c := range pod.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable == corev1.DoNotSchedule {
			fields = append(fields, "spec.topologySpreadConstraints["+strconv.Itoa(i)+"] (whenUnsatisfiable: DoNotSchedule)")
		}
	}
	return fields
}

// checkPodConstraints is the error, as PodScheduled's message, for a pod tied to other
// pods in a way placement does not read (podConstraintFields); nil for one it places.
func checkPodConstraints(pod *corev1.Pod) error {
	fields := podConstraintFields(pod)
	if len(fields) == 0 {
		return nil
	}
	return errors.New(Clamp("k8sm does not place pods by "+strings.Join(fields, ", ")+
		": it keeps a pod away from other pods only by required pod anti-affinity without a namespace selector by labels, and never beside them "+
		"(it takes preferred terms and whenUnsatisfiable: ScheduleAnyway, and ignores them)",
		MaxMessageLength))
}
