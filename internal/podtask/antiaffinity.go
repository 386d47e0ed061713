package podtask

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/k8sm/k8sm/internal/placement"
)

// AntiAffinityTerms are a pod's required pod anti-affinity terms as placement weighs
// them (placement.PodTerm): a term without namespaces or a namespace selector counts the
// pods of the pod's own namespace, an empty namespace selector those of every one, and
// one that selects namespaces by their labels those of the namespaces it names and of
// those it selects. Nil when it has none.
func AntiAffinityTerms(pod *corev1.Pod) []placement.PodTerm {
	if !HasAntiAffinityTerms(pod) {
		return nil
	}
	return podTerms(pod, pod.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
}

// HasAntiAffinityTerms says whether a pod has required pod anti-affinity terms, without
// reading them.
func HasAntiAffinityTerms(pod *corev1.Pod) bool {
	a := pod.Spec.Affinity
	return a != nil && a.PodAntiAffinity != nil && len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0
}

// AffinityTerms are a pod's required pod affinity terms as placement weighs them, read
// as AntiAffinityTerms reads anti-affinity's.
func AffinityTerms(pod *corev1.Pod) []placement.PodTerm {
	a := pod.Spec.Affinity
	if a == nil || a.PodAffinity == nil {
		return nil
	}
	return podTerms(pod, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
}

// PreferredTerms are a pod's preferred node affinity, pod affinity and pod anti-affinity
// terms and its ScheduleAnyway spread constraints as placement weighs them
// (placement.Preferences), the pod terms read as AntiAffinityTerms reads the required
// ones. Nil when it has none.
func PreferredTerms(pod *corev1.Pod) *placement.Preferences {
	p := placement.Preferences{Spread: softSpread(pod)}
	a := pod.Spec.Affinity
	if a == nil {
		a = &corev1.Affinity{}
	}
	if a.NodeAffinity != nil {
		p.NodeAffinity = a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution
	}
	if a.PodAffinity != nil {
		p.Affinity = weightedTerms(pod, a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	if a.PodAntiAffinity != nil {
		p.AntiAffinity = weightedTerms(pod, a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	if len(p.NodeAffinity)+len(p.Affinity)+len(p.AntiAffinity)+len(p.Spread) == 0 {
		return nil
	}
	return &p
}

// weightedTerms are preferred pod terms as placement weighs them; nil for none.
func weightedTerms(pod *corev1.Pod, src []corev1.WeightedPodAffinityTerm) []placement.WeightedPodTerm {
	var out []placement.WeightedPodTerm
	for i := range src {
		if t := podTerms(pod, []corev1.PodAffinityTerm{src[i].PodAffinityTerm}); len(t) == 1 {
			out = append(out, placement.WeightedPodTerm{Weight: src[i].Weight, Term: t[0]})
		}
	}
	return out
}

// podTerms are terms of a pod as placement weighs them; nil for none.
func podTerms(pod *corev1.Pod, src []corev1.PodAffinityTerm) []placement.PodTerm {
	if len(src) == 0 {
		return nil
	}
	terms := make([]placement.PodTerm, 0, len(src))
	for i := range src {
		t := &src[i]
		term := placement.PodTerm{TopologyKey: t.TopologyKey, Namespaces: t.Namespaces}
		switch ns := t.NamespaceSelector; {
		case ns == nil && len(t.Namespaces) == 0:
			term.Namespaces = []string{pod.Namespace}
		case ns == nil:
		case len(ns.MatchLabels) == 0 && len(ns.MatchExpressions) == 0:
			term.AllNamespaces = true
		default:
			sel, err := metav1.LabelSelectorAsSelector(ns)
			if err != nil {
				continue // the API server lets no such pod in
			}
			term.NamespaceSelector = sel
		}
		if t.LabelSelector != nil {
			sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
			if err != nil {
				continue // the API server lets no such pod in
			}
			term.Selector = sel
		}
		terms = append(terms, term)
	}
	return terms
}

// SpreadConstraints are a pod's topology spread constraints with whenUnsatisfiable:
// DoNotSchedule as placement holds them (placement.SpreadConstraint); ScheduleAnyway
// ones are preferences (PreferredTerms). The values of the pod's labels named by
// matchLabelKeys join the selector, as kube-scheduler joins them (a key the pod has no
// label of is left out). Nil when it has none.
func SpreadConstraints(pod *corev1.Pod) []placement.SpreadConstraint {
	var out []placement.SpreadConstraint
	for i := range pod.Spec.TopologySpreadConstraints {
		c := &pod.Spec.TopologySpreadConstraints[i]
		if c.WhenUnsatisfiable != corev1.DoNotSchedule {
			continue
		}
		sc := placement.SpreadConstraint{MaxSkew: c.MaxSkew, TopologyKey: c.TopologyKey,
			IgnoreNodeAffinity: c.NodeAffinityPolicy != nil && *c.NodeAffinityPolicy == corev1.NodeInclusionPolicyIgnore,
			HonorTaints:        c.NodeTaintsPolicy != nil && *c.NodeTaintsPolicy == corev1.NodeInclusionPolicyHonor}
		if c.MinDomains != nil {
			sc.MinDomains = *c.MinDomains
		}
		sel, ok := spreadSelector(pod, c)
		if !ok {
			continue // the API server lets no such pod in
		}
		sc.Selector = sel
		out = append(out, sc)
	}
	return out
}

// spreadSelector is the selector of the pods a spread constraint counts: its label
// selector with the values of the pod's labels its matchLabelKeys name, nil without a
// label selector; false when it does not parse.
func spreadSelector(pod *corev1.Pod, c *corev1.TopologySpreadConstraint) (labels.Selector, bool) {
	if c.LabelSelector == nil {
		return nil, true
	}
	sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
	if err != nil {
		return nil, false
	}
	for _, key := range c.MatchLabelKeys {
		if v, ok := pod.Labels[key]; ok {
			if req, err := labels.NewRequirement(key, selection.Equals, []string{v}); err == nil {
				sel = sel.Add(*req)
			}
		}
	}
	return sel, true
}

// softSpread are a pod's ScheduleAnyway spread constraints as placement weighs them
// (placement.Preferences.Spread): a term counting the pods of its namespace that the
// constraint's selector matches, in the domains of its topology key.
func softSpread(pod *corev1.Pod) []placement.PodTerm {
	var out []placement.PodTerm
	for i := range pod.Spec.TopologySpreadConstraints {
		c := &pod.Spec.TopologySpreadConstraints[i]
		if c.WhenUnsatisfiable != corev1.ScheduleAnyway {
			continue
		}
		if sel, ok := spreadSelector(pod, c); ok {
			out = append(out, placement.PodTerm{Selector: sel, Namespaces: []string{pod.Namespace}, TopologyKey: c.TopologyKey})
		}
	}
	return out
}
