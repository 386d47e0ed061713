package podtask

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sm/k8sm/internal/placement"
)

// AntiAffinityTerms are a pod's required pod anti-affinity terms as placement weighs
// them (placement.PodTerm): a term without namespaces or a namespace selector counts the
// pods of the pod's own namespace, an empty namespace selector those of every one. Nil
// when it has none. A term whose namespace selector selects by labels, which placement
// does not read, counts the pods of every namespace: a pod bound by others keeps away
// at least the pods it should (checkPodConstraints refuses such pods before they are
// queued, so no pod placed here has one).
func AntiAffinityTerms(pod *corev1.Pod) []placement.PodTerm {
	a := pod.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil {
		return nil
	}
	return podTerms(pod, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
}

// AffinityTerms are a pod's required pod affinity terms as placement weighs them, read
// as AntiAffinityTerms reads anti-affinity's (a pod with a term selecting namespaces by
// labels is refused before it is queued, and kube-scheduler reads no other pod's).
func AffinityTerms(pod *corev1.Pod) []placement.PodTerm {
	a := pod.Spec.Affinity
	if a == nil || a.PodAffinity == nil {
		return nil
	}
	return podTerms(pod, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
}

// podTerms are terms of a pod as placement weighs them; nil for none.
func podTerms(pod *corev1.Pod, src []corev1.PodAffinityTerm) []placement.PodTerm {
	if len(src) == 0 {
		return nil
	}
	terms := make([]placement.PodTerm, 0, len(src))
	for i := range src {
		t := &src[i]
		term := placement.PodTerm{TopologyKey: t.TopologyKey, Namespaces: t.Namespaces, AllNamespaces: t.NamespaceSelector != nil}
		if t.NamespaceSelector == nil && len(t.Namespaces) == 0 {
			term.Namespaces = []string{pod.Namespace}
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

// namespaceSelectorByLabels says whether a term picks its namespaces by their labels,
// which placement does not read.
func namespaceSelectorByLabels(t *corev1.PodAffinityTerm) bool {
	s := t.NamespaceSelector
	return s != nil && (len(s.MatchLabels) > 0 || len(s.MatchExpressions) > 0)
}
