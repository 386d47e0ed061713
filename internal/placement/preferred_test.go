package placement

import (
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
)

// Preferred terms choose among the offers a request fits: the agent whose Node satisfies
// the greatest weight of them (node affinity and pod affinity terms add theirs, pod
// anti-affinity terms take theirs away), the strategy choosing between equals. They
// never place a request where it does not fit.
func TestPreferredTerms(t *testing.T) {
	host := corev1.LabelHostname
	zone := corev1.LabelTopologyZone
	offers := []mesos.Offer{withAttr(offer("h1", 4, 4096), "rack", "r1"), withAttr(offer("h2", 4, 4096), "rack", "r2"),
		withAttr(offer("h3", 2, 4096), "rack", "r3")}
	zones := map[string]string{"h1": "a", "h2": "a", "h3": "b"}
	soon := corev1.Taint{Key: "maintenance", Value: "soon", Effect: corev1.TaintEffectPreferNoSchedule}
	tainted := map[string]bool{} // the agents whose Nodes have soon, for the case that runs
	nodeSpec := func(name string) (NodeState, bool) {
		for h, z := range zones {
			if strings.Contains(name, h) {
				st := NodeState{Labels: map[string]string{zone: z}}
				if tainted[h] {
					st.Taints = []corev1.Taint{soon}
				}
				return st, true
			}
		}
		return NodeState{}, false
	}
	tolerating := func(r Request) Request {
		r.Tolerations = []corev1.Toleration{{Key: "maintenance", Operator: corev1.TolerationOpExists}}
		return r
	}
	prefer := func(weight int32, key string, values ...string) corev1.PreferredSchedulingTerm {
		return corev1.PreferredSchedulingTerm{Weight: weight, Preference: expr(key, corev1.NodeSelectorOpIn, values...)}
	}
	withPrefs := func(r Request, p Preferences) Request { r.Preferred = &p; return r }
	web := func(id string, p Preferences) Request {
		return withPrefs(Request{ID: id, CPUs: 1, Namespace: "ns", Labels: map[string]string{"app": "web"}}, p)
	}
	weighted := func(weight int32, term PodTerm) []WeightedPodTerm {
		return []WeightedPodTerm{{Weight: weight, Term: term}}
	}
	for _, tc := range []struct {
		name     string
		requests []Request
		podsIn   map[string][]PlacedPod
		binpack  bool
		offers   []mesos.Offer // the three agents' when nil
		tainted  []string      // the agents whose Nodes have a PreferNoSchedule taint
		want     []string
	}{
		{name: "a PreferNoSchedule taint sends a pod elsewhere", binpack: true, tainted: []string{"h3"}, want: []string{"h1"},
			requests: []Request{req("t", 1, 64)}},
		{name: "unless it tolerates it", binpack: true, tainted: []string{"h3"}, want: []string{"h3"},
			requests: []Request{tolerating(req("t", 1, 64))}},
		{name: "the taint before preferred terms", binpack: true, tainted: []string{"h3"}, want: []string{"h1"},
			requests: []Request{withPrefs(req("t", 1, 64), Preferences{NodeAffinity: []corev1.PreferredSchedulingTerm{prefer(10, "rack", "r3")}})}},
		{name: "a tainted agent still takes what fits nowhere else", binpack: true, tainted: []string{"h1", "h2"}, want: []string{"h1"},
			requests: []Request{req("t", 3, 64)}},
		{name: "without preferences the strategy chooses", requests: []Request{req("t", 1, 64)}, binpack: true, want: []string{"h3"}},
		{name: "a preferred node affinity term", binpack: true, want: []string{"h2"},
			requests: []Request{withPrefs(req("t", 1, 64), Preferences{NodeAffinity: []corev1.PreferredSchedulingTerm{prefer(10, "rack", "r2")}})}},
		{name: "the greatest weight", binpack: true, want: []string{"h2"},
			requests: []Request{withPrefs(req("t", 1, 64), Preferences{NodeAffinity: []corev1.PreferredSchedulingTerm{
				prefer(10, zone, "b"), prefer(30, "rack", "r2"), prefer(15, "rack", "r1")}})}},
		{name: "equal weights: the strategy chooses between them", binpack: true, want: []string{"h1"},
			requests: []Request{withPrefs(req("t", 1, 64), Preferences{NodeAffinity: []corev1.PreferredSchedulingTerm{prefer(10, zone, "a")}})}},
		{name: "a preferred agent the request does not fit", binpack: true, want: []string{"h1"},
			requests: []Request{withPrefs(req("t", 3, 64), Preferences{NodeAffinity: []corev1.PreferredSchedulingTerm{prefer(10, "rack", "r3")}})}},
		{name: "preferred anti-affinity spreads replicas that bin packing would stack", binpack: true, want: []string{"h3", "h1", "h2", "h3"},
			requests: []Request{
				web("w1", Preferences{AntiAffinity: weighted(100, awayFrom("web", host, "ns"))}),
				web("w2", Preferences{AntiAffinity: weighted(100, awayFrom("web", host, "ns"))}),
				web("w3", Preferences{AntiAffinity: weighted(100, awayFrom("web", host, "ns"))}),
				web("w4", Preferences{AntiAffinity: weighted(100, awayFrom("web", host, "ns"))}),
			}},
		{name: "preferred anti-affinity counts the pods on Nodes", want: []string{"h3"},
			podsIn:   map[string][]PlacedPod{"ns": {onHost("ns", "web", "h1", "a"), onHost("ns", "web", "h2", "a")}},
			requests: []Request{web("w", Preferences{AntiAffinity: weighted(100, awayFrom("web", zone, "ns"))})}},
		{name: "preferred affinity goes where the pods it counts are", want: []string{"h2"},
			podsIn: map[string][]PlacedPod{"ns": {onHost("ns", "db", "h2", "a")}},
			requests: []Request{withPrefs(req("t", 1, 64), Preferences{Affinity: weighted(50, PodTerm{
				Selector: awayFrom("db", host).Selector, Namespaces: []string{"ns"}, TopologyKey: host})})}},
		{name: "ScheduleAnyway spread: the domain with the fewest pods it counts", binpack: true, want: []string{"h1"},
			podsIn:   map[string][]PlacedPod{"ns": {onHost("ns", "web", "h3", "b")}},
			requests: []Request{web("w", Preferences{Spread: []PodTerm{awayFrom("web", zone, "ns")}})}},
		{name: "ScheduleAnyway spread: a Node without the key comes last", binpack: true, want: []string{"h1"},
			offers:   []mesos.Offer{withAttr(offer("h1", 8, 4096), "rack", "r1"), offer("h4", 4, 4096)},
			podsIn:   map[string][]PlacedPod{"ns": {{Namespace: "ns", Labels: map[string]string{"app": "web"}, NodeLabels: map[string]string{"rack": "r1"}}}},
			requests: []Request{web("w", Preferences{Spread: []PodTerm{awayFrom("web", "rack", "ns")}})}},
		{name: "weights before spread", binpack: true, want: []string{"h3"},
			podsIn: map[string][]PlacedPod{"ns": {onHost("ns", "web", "h3", "b")}},
			requests: []Request{web("w", Preferences{Spread: []PodTerm{awayFrom("web", zone, "ns")},
				NodeAffinity: []corev1.PreferredSchedulingTerm{prefer(1, zone, "b")}})}},
		{name: "affinity and anti-affinity weighed together", want: []string{"h3"},
			podsIn: map[string][]PlacedPod{"ns": {onHost("ns", "db", "h2", "a"), onHost("ns", "db", "h3", "b"), onHost("ns", "web", "h2", "a")}},
			requests: []Request{web("w", Preferences{
				Affinity:     weighted(50, awayFrom("db", host, "ns")),
				AntiAffinity: weighted(20, awayFrom("web", host, "ns"))})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			strategy := Spread
			if tc.binpack {
				strategy = Binpack
			}
			if tc.offers == nil {
				tc.offers = offers
			}
			clear(tainted)
			for _, h := range tc.tainted {
				tainted[h] = true
			}
			in := Input{Requests: tc.requests, Offers: tc.offers, Cluster: "c", NodeSpec: nodeSpec, Strategy: strategy,
				PodsIn: func(ns string) []PlacedPod { return tc.podsIn[ns] }}
			res := Place(in)
			checkResult(t, in, res)
			if got := hostsOf(res, tc.requests); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("placed on %q, want %q (unplaced: %v)", got, tc.want, res.Unplaced)
			}
		})
	}
}

// BenchmarkPlacePreferredAntiAffinity places 10,000 replicas of ten workloads, each
// spread over the agents by preferred anti-affinity on the hostname, over 1,000 offers,
// with 100 replicas of each running already.
func BenchmarkPlacePreferredAntiAffinity(b *testing.B) {
	in := tenWorkloads(func(r *Request, away PodTerm) {
		r.Preferred = &Preferences{AntiAffinity: []WeightedPodTerm{{Weight: 100, Term: away}}}
	})
	b.ReportAllocs()
	for b.Loop() {
		if res := Place(in); len(res.Assignments) == 0 {
			b.Fatal("placed none")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(in.Requests))/1e3, "µs/task")
}
