package podtask

import (
	"errors"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// podConstraintFields names the fields of an unbound pod that tie where it may run to
// other pods: required pod affinity and anti-affinity, and topology spread constraints
// that are DoNotSchedule. Placement reads none of them, so it would run three replicas
// meant for three agents on one. Preferred terms and ScheduleAnyway constraints are
// kube-scheduler's scores, not its filters: a pod with them runs, and they are ignored.
// A pod bound to a Node is not looked at: it was placed by others, and a kubelet admits
// it without looking at other pods either. nil means none.
func podConstraintFields(pod *corev1.Pod) []string {
	if pod.Spec.NodeName != "" {
		return nil
	}
	var fields []string
	if a := pod.Spec.Affinity; a != nil {
		if a.PodAffinity != nil && len(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 {
			fields = append(fields, "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution")
		}
		if a.PodAntiAffinity != nil && len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 {
			fields = append(fields, "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution")
		}
	}
	for i, c := range pod.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable == corev1.DoNotSchedule {
			fields = append(fields, "spec.topologySpreadConstraints["+strconv.Itoa(i)+"] (whenUnsatisfiable: DoNotSchedule)")
		}
	}
	return fields
}

// checkPodConstraints is the error, as PodScheduled's message, for a pod that may run
// only beside or away from other pods (podConstraintFields); nil for one that may run
// anywhere they are.
func checkPodConstraints(pod *corev1.Pod) error {
	fields := podConstraintFields(pod)
	if len(fields) == 0 {
		return nil
	}
	return errors.New(Clamp("k8sm does not place pods by "+strings.Join(fields, ", ")+
		": it cannot keep a pod beside or away from other pods (it takes preferred terms and whenUnsatisfiable: ScheduleAnyway, and ignores them)",
		MaxMessageLength))
}
