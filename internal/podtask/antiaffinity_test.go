package podtask

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// A pod's required anti-affinity terms count the pods of its own namespace unless they
// name namespaces, or every namespace with an empty namespace selector; a term without
// a label selector counts no pod, and one choosing namespaces by labels counts those it
// selects and those it names.
func TestAntiAffinityTerms(t *testing.T) {
	web := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	teamA := &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}
	nsLabels := map[string]labels.Set{"x": {"team": "a"}, "y": {"team": "b"}}
	for _, tc := range []struct {
		name   string
		term   corev1.PodAffinityTerm
		want   bool // one term
		nss    []string
		all    bool
		nsSel  string          // the namespace selector, "" for none
		counts map[string]bool // namespace/app -> counted
	}{
		{name: "own namespace", term: corev1.PodAffinityTerm{LabelSelector: web, TopologyKey: corev1.LabelHostname}, want: true,
			nss: []string{"ns"}, counts: map[string]bool{"ns/web": true, "ns/db": false, "other/web": false}},
		{name: "named namespaces", term: corev1.PodAffinityTerm{LabelSelector: web, Namespaces: []string{"a", "b"}, TopologyKey: corev1.LabelHostname}, want: true,
			nss: []string{"a", "b"}, counts: map[string]bool{"ns/web": false, "a/web": true, "b/web": true}},
		{name: "every namespace", term: corev1.PodAffinityTerm{LabelSelector: web, NamespaceSelector: &metav1.LabelSelector{}, TopologyKey: corev1.LabelHostname}, want: true,
			all: true, counts: map[string]bool{"ns/web": true, "x/web": true, "x/db": false}},
		{name: "no label selector", term: corev1.PodAffinityTerm{TopologyKey: corev1.LabelHostname}, want: true,
			nss: []string{"ns"}, counts: map[string]bool{"ns/web": false, "ns/": false}},
		{name: "namespaces by labels", term: corev1.PodAffinityTerm{LabelSelector: web, TopologyKey: corev1.LabelHostname,
			NamespaceSelector: teamA}, want: true, nsSel: "team=a",
			counts: map[string]bool{"ns/web": false, "x/web": true, "x/db": false, "y/web": false}},
		{name: "named and by labels", term: corev1.PodAffinityTerm{LabelSelector: web, TopologyKey: corev1.LabelHostname,
			Namespaces: []string{"y"}, NamespaceSelector: teamA}, want: true, nsSel: "team=a",
			nss: []string{"y"}, counts: map[string]bool{"ns/web": false, "x/web": true, "y/web": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := asking("cpu", "1")
			pod.Namespace = "ns"
			pod.Labels = map[string]string{"app": "web"}
			pod.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{tc.term}}}
			terms := AntiAffinityTerms(pod)
			if got := len(terms) == 1; got != tc.want {
				t.Fatalf("terms %v, want one: %v", terms, tc.want)
			}
			if !tc.want {
				return
			}
			term := terms[0]
			if term.TopologyKey != corev1.LabelHostname || term.AllNamespaces != tc.all || len(term.Namespaces) != len(tc.nss) {
				t.Fatalf("term %+v, want namespaces %v, all %v", term, tc.nss, tc.all)
			}
			wantSel := tc.nsSel
			if wantSel == "" {
				wantSel = "<nil>"
			}
			if got := fmt.Sprint(term.NamespaceSelector); got != wantSel {
				t.Fatalf("namespace selector %s, want %s", got, wantSel)
			}
			for pod, want := range tc.counts {
				ns, app, _ := strings.Cut(pod, "/")
				inNamespace := term.AllNamespaces || slices.Contains(term.Namespaces, ns) ||
					(term.NamespaceSelector != nil && term.NamespaceSelector.Matches(nsLabels[ns]))
				got := term.Selector != nil && inNamespace && term.Selector.Matches(labels.Set{"app": app})
				if got != want {
					t.Fatalf("the term counts pod %s: %v, want %v", pod, got, want)
				}
			}
			mt, err := NewMesosTask(pod, &mesosv1alpha1.MesosCluster{}, "")
			if err != nil {
				t.Fatal(err)
			}
			r := RequestFor(pod, mt)
			if len(r.AntiAffinity) != 1 || r.Namespace != "ns" || r.Labels["app"] != "web" {
				t.Fatalf("request %+v lacks the pod's namespace, labels or terms", r)
			}
		})
	}
}

// A pod's required pod affinity terms go into its placement request, read as
// anti-affinity's are.
func TestAffinityTerms(t *testing.T) {
	pod := asking("cpu", "1")
	pod.Labels = map[string]string{"app": "cache"}
	pod.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, TopologyKey: corev1.LabelHostname}}}}
	mt, err := NewMesosTask(pod, &mesosv1alpha1.MesosCluster{}, "")
	if err != nil {
		t.Fatal(err)
	}
	r := RequestFor(pod, mt)
	if len(r.PodAffinity) != 1 || len(r.AntiAffinity) != 0 || r.PodAffinity[0].Namespaces[0] != "ns" ||
		!r.PodAffinity[0].Selector.Matches(labels.Set{"app": "web"}) {
		t.Fatalf("request's pod affinity %+v, anti-affinity %+v", r.PodAffinity, r.AntiAffinity)
	}
}

// A pod's preferred node affinity, pod affinity and anti-affinity terms go into its
// placement request with their weights, the pod terms read as the required ones; a pod
// with required terms only has none.
func TestPreferredTerms(t *testing.T) {
	pod := asking("cpu", "1")
	term := corev1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, TopologyKey: corev1.LabelHostname}
	pod.Spec.Affinity = &corev1.Affinity{
		NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 5,
			Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "rack", Operator: corev1.NodeSelectorOpIn, Values: []string{"r1"}}}}}}},
		PodAffinity:     &corev1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 7, PodAffinityTerm: term}}},
		PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 9, PodAffinityTerm: term}}},
	}
	mt, err := NewMesosTask(pod, &mesosv1alpha1.MesosCluster{}, "")
	if err != nil {
		t.Fatal(err)
	}
	p := RequestFor(pod, mt).Preferred
	if p == nil || len(p.NodeAffinity) != 1 || p.NodeAffinity[0].Weight != 5 || len(p.Affinity) != 1 || p.Affinity[0].Weight != 7 ||
		len(p.AntiAffinity) != 1 || p.AntiAffinity[0].Weight != 9 {
		t.Fatalf("preferences %+v", p)
	}
	if a := p.AntiAffinity[0].Term; a.Namespaces[0] != "ns" || a.TopologyKey != corev1.LabelHostname || !a.Selector.Matches(labels.Set{"app": "web"}) {
		t.Errorf("preferred anti-affinity term %+v", a)
	}
	pod.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term}}}
	if p := RequestFor(pod, mt).Preferred; p != nil {
		t.Errorf("preferences %+v of a pod with required terms only, want none", p)
	}
	// A ScheduleAnyway spread constraint is a preference; a DoNotSchedule one is not.
	pod.Labels = map[string]string{"app": "web", "rev": "2"}
	pod.Spec.Affinity = nil
	pod.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{
		{MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.ScheduleAnyway, MatchLabelKeys: []string{"rev"},
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
		{MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}
	r := RequestFor(pod, mt)
	if r.Preferred == nil || len(r.Preferred.Spread) != 1 || len(r.Spread) != 1 {
		t.Fatalf("preferences %+v, spread constraints %+v: want one of each", r.Preferred, r.Spread)
	}
	soft := r.Preferred.Spread[0]
	if soft.TopologyKey != corev1.LabelTopologyZone || soft.Namespaces[0] != "ns" || !soft.Selector.Matches(labels.Set{"app": "web", "rev": "2"}) ||
		soft.Selector.Matches(labels.Set{"app": "web", "rev": "1"}) {
		t.Errorf("ScheduleAnyway constraint read as %+v", soft)
	}
}

// A pod's DoNotSchedule spread constraints go into its placement request, the values of
// its labels named by matchLabelKeys joined to the selector; ScheduleAnyway ones do not.
func TestSpreadConstraints(t *testing.T) {
	pod := asking("cpu", "1")
	pod.Labels = map[string]string{"app": "web", "pod-template-hash": "abc"}
	ignore, honor := corev1.NodeInclusionPolicyIgnore, corev1.NodeInclusionPolicyHonor
	two := int32(2)
	web := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	pod.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{
		{MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: web},
		{MaxSkew: 2, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: web,
			MatchLabelKeys: []string{"pod-template-hash", "absent"}, MinDomains: &two, NodeAffinityPolicy: &ignore, NodeTaintsPolicy: &honor},
		{MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: web},
	}
	mt, err := NewMesosTask(pod, &mesosv1alpha1.MesosCluster{}, "")
	if err != nil {
		t.Fatal(err)
	}
	r := RequestFor(pod, mt)
	if len(r.Spread) != 2 {
		t.Fatalf("constraints %+v, want the DoNotSchedule ones", r.Spread)
	}
	c := r.Spread[0]
	if c.MaxSkew != 2 || c.TopologyKey != corev1.LabelTopologyZone || c.MinDomains != 2 || !c.IgnoreNodeAffinity || !c.HonorTaints {
		t.Fatalf("constraint %+v", c)
	}
	if d := r.Spread[1]; d.IgnoreNodeAffinity || d.HonorTaints || d.MinDomains != 0 {
		t.Fatalf("constraint %+v, want the policies' defaults (Honor node affinity, Ignore taints)", d)
	}
	if !c.Selector.Matches(labels.Set{"app": "web", "pod-template-hash": "abc"}) || c.Selector.Matches(labels.Set{"app": "web", "pod-template-hash": "old"}) {
		t.Fatalf("selector %s does not hold the pod's pod-template-hash", c.Selector)
	}
}
