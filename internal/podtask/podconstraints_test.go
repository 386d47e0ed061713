package podtask

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A pod tied to other pods in a way placement does not read (a DoNotSchedule spread
// constraint honoring taints, an affinity or anti-affinity term choosing namespaces by
// their labels) is refused, naming the field: placed without it, three "one per agent"
// replicas could run on one agent. Required affinity, anti-affinity and spread
// otherwise are placed. What kube-scheduler only prefers is taken, and ignored.
func TestCheckPlaceableRefusesPodConstraints(t *testing.T) {
	web := corev1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		TopologyKey: corev1.LabelHostname}
	preferred := []corev1.WeightedPodAffinityTerm{{Weight: 10, PodAffinityTerm: web}}
	honor := corev1.NodeInclusionPolicyHonor
	spread := func(when ...corev1.UnsatisfiableConstraintAction) []corev1.TopologySpreadConstraint {
		var out []corev1.TopologySpreadConstraint
		for _, w := range when {
			out = append(out, corev1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: w,
				LabelSelector: web.LabelSelector})
		}
		return out
	}
	honoringTaints := func(when ...corev1.UnsatisfiableConstraintAction) []corev1.TopologySpreadConstraint {
		out := spread(when...)
		for i := range out {
			out[i].NodeTaintsPolicy = &honor
		}
		return out
	}
	const ignored = ": it places pods by other pods only by required pod affinity and anti-affinity terms without a namespace selector by labels, " +
		"and DoNotSchedule spread constraints without nodeTaintsPolicy: Honor (it takes preferred terms and whenUnsatisfiable: ScheduleAnyway, and ignores them)"
	byLabels := web
	byLabels.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}
	everyNamespace := web
	everyNamespace.NamespaceSelector = &metav1.LabelSelector{}
	for _, tc := range []struct {
		name     string
		affinity *corev1.Affinity
		spread   []corev1.TopologySpreadConstraint
		bound    bool
		want     string
	}{
		{name: "required anti-affinity", affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{web, everyNamespace}}}},
		{name: "required anti-affinity choosing namespaces by labels", affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{web, byLabels}}},
			want: "k8sm does not place pods by spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[1].namespaceSelector" + ignored},
		{name: "required affinity", affinity: &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{web, everyNamespace}}}},
		{name: "required affinity choosing namespaces by labels", affinity: &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{byLabels}}},
			want: "k8sm does not place pods by spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].namespaceSelector" + ignored},
		{name: "DoNotSchedule spread", spread: spread(corev1.ScheduleAnyway, corev1.DoNotSchedule)},
		{name: "DoNotSchedule spread honoring taints", spread: honoringTaints(corev1.ScheduleAnyway, corev1.DoNotSchedule),
			want: "k8sm does not place pods by spec.topologySpreadConstraints[1].nodeTaintsPolicy (Honor)" + ignored},
		{name: "each named", affinity: &corev1.Affinity{
			PodAffinity:     &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{web, byLabels}},
			PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{byLabels}}},
			spread: honoringTaints(corev1.DoNotSchedule),
			want: "k8sm does not place pods by spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[1].namespaceSelector, " +
				"spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].namespaceSelector, " +
				"spec.topologySpreadConstraints[0].nodeTaintsPolicy (Honor)" + ignored},
		{name: "preferred terms only", affinity: &corev1.Affinity{
			PodAffinity:     &corev1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: preferred},
			PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: preferred}}},
		{name: "ScheduleAnyway spread", spread: spread(corev1.ScheduleAnyway)},
		{name: "node affinity", affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}}},
		{name: "empty pod affinity", affinity: &corev1.Affinity{PodAffinity: &corev1.PodAffinity{}, PodAntiAffinity: &corev1.PodAntiAffinity{}}},
		// Placed by others: a kubelet admits a pod without looking at other pods.
		{name: "bound to a Node", bound: true, affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{web}}}, spread: spread(corev1.DoNotSchedule)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := asking("cpu", "1")
			pod.Spec.Affinity, pod.Spec.TopologySpreadConstraints = tc.affinity, tc.spread
			if tc.bound {
				pod.Spec.NodeName = "mesos-c-h1"
			}
			err := CheckPlaceable(pod)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("CheckPlaceable = %v, want nil", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Fatalf("CheckPlaceable = %v, want %q", err, tc.want)
			}
		})
	}
}
