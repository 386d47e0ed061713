package podtask

import (
	"errors"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// podConstraintFields names the fields of an unbound pod that tie where it may run to
// other pods in a way placement does not read: required pod affinity and anti-affinity
// terms whose namespaces are chosen by their labels (a namespace selector that is not
// empty), and DoNotSchedule topology spread constraints that count only the Nodes whose
// taints the pod tolerates (nodeTaintsPolicy: Honor). Placed without them, three
// replicas meant for three agents could run on one. Required affinity, anti-affinity and
// spread otherwise are placement's (AffinityTerms, AntiAffinityTerms,
// SpreadConstraints). Preferred
// terms and ScheduleAnyway constraints are kube-scheduler's scores, not its filters: a
// pod with them runs, and they are ignored. A pod bound to a Node is not looked at: it
// was placed by others, and a kubelet admits it without looking at other pods either.
// nil means none.
func podConstraintFields(pod *corev1.Pod) []string {
	if pod.Spec.NodeName != "" {
		return nil
	}
	var fields []string
	if a := pod.Spec.Affinity; a != nil {
		if a.PodAffinity != nil {
			fields = byLabels(fields, "spec.affinity.podAffinity", a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
		}
		if a.PodAntiAffinity != nil {
			fields = byLabels(fields, "spec.affinity.podAntiAffinity", a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
		}
	}
	for i := range pod.Spec.TopologySpreadConstraints {
		if c := &pod.Spec.TopologySpreadConstraints[i]; c.WhenUnsatisfiable == corev1.DoNotSchedule && honorsTaints(c) {
			fields = append(fields, "spec.topologySpreadConstraints["+strconv.Itoa(i)+"].nodeTaintsPolicy (Honor)")
		}
	}
	return fields
}

// byLabels appends the namespace selectors by labels of required terms to fields.
func byLabels(fields []string, path string, terms []corev1.PodAffinityTerm) []string {
	for i := range terms {
		if namespaceSelectorByLabels(&terms[i]) {
			fields = append(fields, path+".requiredDuringSchedulingIgnoredDuringExecution["+strconv.Itoa(i)+"].namespaceSelector")
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
		": it places pods by other pods only by required pod affinity and anti-affinity terms without a namespace selector by labels, "+
		"and DoNotSchedule spread constraints without nodeTaintsPolicy: Honor "+
		"(it takes preferred terms and whenUnsatisfiable: ScheduleAnyway, and ignores them)",
		MaxMessageLength))
}
