package placement

import (
	"fmt"
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/k8sm/k8sm/internal/agentnode"
)

// awayFrom is a hostname anti-affinity term against pods labelled app=value in ns.
func awayFrom(value string, key string, ns ...string) PodTerm {
	return PodTerm{Selector: labels.SelectorFromSet(labels.Set{"app": value}), Namespaces: ns, TopologyKey: key}
}

// namespaceLabels are the labels of the namespaces x and y.
var namespaceLabels = map[string]map[string]string{"x": {"team": "a"}, "y": {"team": "b"}}

// teamA is a term against pods labelled app=web in the namespaces labelled team=a.
func teamA(key string) PodTerm {
	return PodTerm{Selector: labels.SelectorFromSet(labels.Set{"app": "web"}), NamespaceSelector: labels.SelectorFromSet(labels.Set{"team": "a"}),
		TopologyKey: key}
}

// replica is a request of pod app=value in namespace ns with the terms.
func replica(id, ns, value string, terms ...PodTerm) Request {
	return Request{ID: id, CPUs: 1, Namespace: ns, Labels: map[string]string{"app": value}, AntiAffinity: terms}
}

// onHost is a pod app=value in ns on the Node of an agent named host, in zone.
func onHost(ns, value, host, zone string, terms ...PodTerm) PlacedPod {
	return PlacedPod{Namespace: ns, Labels: map[string]string{"app": value},
		NodeLabels: map[string]string{corev1.LabelHostname: host, corev1.LabelTopologyZone: zone}, AntiAffinity: terms}
}

// Required pod anti-affinity keeps a request out of the topology domains of the pods its
// terms count (on Nodes, and placed earlier in the round), and out of those of pods whose
// own terms count it, as kube-scheduler's InterPodAffinity filter does; a Node without
// the key is in no domain.
func TestRequiredPodAntiAffinity(t *testing.T) {
	host := corev1.LabelHostname
	zone := corev1.LabelTopologyZone
	offers := []mesos.Offer{offer("h1", 4, 4096), offer("h2", 4, 4096), offer("h3", 4, 4096)}
	zones := map[string]string{"h1": "a", "h2": "a", "h3": "b"}
	nodeSpec := func(name string) (NodeState, bool) {
		for h, z := range zones {
			if strings.Contains(name, h) {
				return NodeState{Labels: map[string]string{zone: z}}, true
			}
		}
		return NodeState{}, false
	}
	for _, tc := range []struct {
		name     string
		requests []Request
		podsIn   map[string][]PlacedPod
		withAnti []PlacedPod
		// want is the host of each request, "" for unplaced.
		want []string
		// why is a text the explanation of the last request has, when it is unplaced.
		why string
		// binpack places by Binpack instead of Spread, which would spread the pods
		// without any term.
		binpack bool
	}{
		{
			name:     "three replicas go to three agents, packed or not",
			binpack:  true,
			requests: []Request{replica("r1", "ns", "web", awayFrom("web", host, "ns")), replica("r2", "ns", "web", awayFrom("web", host, "ns")), replica("r3", "ns", "web", awayFrom("web", host, "ns"))},
			want:     []string{"h1", "h2", "h3"},
		},
		{
			name: "a fourth replica fits nowhere",
			requests: []Request{replica("r1", "ns", "web", awayFrom("web", host, "ns")), replica("r2", "ns", "web", awayFrom("web", host, "ns")),
				replica("r3", "ns", "web", awayFrom("web", host, "ns")), replica("r4", "ns", "web", awayFrom("web", host, "ns"))},
			want: []string{"h1", "h2", "h3", ""},
			why:  "0/3 agents available: 3 didn't match pod anti-affinity rules.",
		},
		{
			name:     "pods on Nodes count",
			requests: []Request{replica("r1", "ns", "web", awayFrom("web", host, "ns")), replica("r2", "ns", "web", awayFrom("web", host, "ns"))},
			podsIn:   map[string][]PlacedPod{"ns": {onHost("ns", "web", "h1", "a"), onHost("ns", "web", "h3", "b")}},
			want:     []string{"h2", ""},
		},
		{
			name:     "pods of other labels do not count",
			requests: []Request{replica("r1", "ns", "web", awayFrom("web", host, "ns"))},
			podsIn:   map[string][]PlacedPod{"ns": {onHost("ns", "db", "h1", "a"), onHost("ns", "db", "h2", "a"), onHost("ns", "db", "h3", "b")}},
			want:     []string{"h1"},
		},
		{
			name:     "pods of other namespaces do not count",
			requests: []Request{replica("r1", "ns", "web", awayFrom("web", host, "ns"))},
			podsIn:   map[string][]PlacedPod{"other": {onHost("other", "web", "h1", "a")}, "": {onHost("other", "web", "h1", "a")}},
			want:     []string{"h1"},
		},
		{
			name:     "a term of every namespace counts them",
			requests: []Request{replica("r1", "ns", "web", PodTerm{Selector: labels.SelectorFromSet(labels.Set{"app": "web"}), AllNamespaces: true, TopologyKey: host})},
			podsIn:   map[string][]PlacedPod{"": {onHost("other", "web", "h1", "a"), onHost("x", "web", "h2", "a")}},
			want:     []string{"h3"},
		},
		{
			name:     "a zone key closes every agent of the zone",
			requests: []Request{replica("r1", "ns", "web", awayFrom("web", zone, "ns")), replica("r2", "ns", "web", awayFrom("web", zone, "ns"))},
			podsIn:   map[string][]PlacedPod{"ns": {onHost("ns", "web", "elsewhere", "a")}},
			want:     []string{"h3", ""},
		},
		{
			name:     "a key no Node has closes nothing",
			requests: []Request{replica("r1", "ns", "web", awayFrom("web", "rack", "ns")), replica("r2", "ns", "web", awayFrom("web", "rack", "ns"))},
			podsIn:   map[string][]PlacedPod{"ns": {onHost("ns", "web", "h1", "a")}},
			want:     []string{"h1", "h2"},
		},
		{
			name:     "an existing pod's term keeps the pods it counts away",
			requests: []Request{replica("r1", "ns", "web"), replica("r2", "ns", "web")},
			withAnti: []PlacedPod{onHost("ns", "db", "h1", "a", awayFrom("web", host, "ns")), onHost("ns", "db", "h2", "a", awayFrom("web", host, "ns"))},
			want:     []string{"h3", "h3"},
		},
		{
			name:     "an existing pod's term says so when nothing is left",
			requests: []Request{replica("r1", "ns", "web")},
			withAnti: []PlacedPod{onHost("ns", "db", "h1", "a", awayFrom("web", zone, "ns")), onHost("ns", "db", "h3", "b", awayFrom("web", zone, "ns"))},
			want:     []string{""},
			why:      "0/3 agents available: 3 didn't satisfy existing pods anti-affinity rules.",
		},
		{
			name:     "a pod placed in the round keeps the pods its term counts away",
			requests: []Request{replica("r1", "ns", "db", awayFrom("web", host, "ns")), replica("r2", "ns", "web"), replica("r3", "ns", "web")},
			want:     []string{"h1", "h2", "h2"},
			binpack:  true,
		},
		{
			name:     "a pod placed in the round is counted by a later request's term",
			requests: []Request{replica("r1", "ns", "web"), replica("r2", "ns", "db", awayFrom("web", host, "ns"))},
			want:     []string{"h1", "h2"},
			binpack:  true,
		},
		{
			name:     "an existing pod's term counts no pod of another namespace",
			requests: []Request{replica("r1", "other", "web")},
			withAnti: []PlacedPod{onHost("ns", "db", "h1", "a", awayFrom("web", host, "ns"))},
			want:     []string{"h1"},
		},
		{
			name:     "a term choosing namespaces by labels counts the pods of those",
			requests: []Request{replica("r1", "ns", "web", teamA(host))},
			podsIn:   map[string][]PlacedPod{"": {onHost("x", "web", "h1", "a"), onHost("y", "web", "h2", "a")}},
			want:     []string{"h2"},
			binpack:  true,
		},
		{
			name:     "an existing pod's term choosing namespaces by labels",
			requests: []Request{replica("r1", "x", "web")},
			withAnti: []PlacedPod{onHost("ns", "db", "h1", "a", teamA(host))},
			want:     []string{"h2"},
			binpack:  true,
		},
		{
			name:     "counts no pod of the namespaces it does not choose",
			requests: []Request{replica("r1", "y", "web"), replica("r2", "nolabels", "web")},
			withAnti: []PlacedPod{onHost("ns", "db", "h1", "a", teamA(host))},
			want:     []string{"h1", "h1"},
			binpack:  true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked := map[string]int{}
			strategy := Spread
			if tc.binpack {
				strategy = Binpack
			}
			askedLabels := map[string]int{}
			in := Input{Requests: tc.requests, Offers: offers, Cluster: "c", NodeSpec: nodeSpec, Strategy: strategy,
				AntiAffinityPods: tc.withAnti, PodsIn: func(ns string) []PlacedPod {
					asked[ns]++
					return tc.podsIn[ns]
				}, NamespaceLabels: func(ns string) map[string]string {
					askedLabels[ns]++
					return namespaceLabels[ns]
				}}
			res := Place(in)
			got := hostsOf(res, tc.requests)
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("placed on %q, want %q (unplaced: %v)", got, tc.want, res.Unplaced)
			}
			if last := tc.requests[len(tc.requests)-1].ID; tc.why != "" && res.Unplaced[last] != tc.why {
				t.Fatalf("explanation %q, want %q", res.Unplaced[last], tc.why)
			}
			for ns, n := range asked {
				if n > 1 {
					t.Fatalf("pods of namespace %q listed %d times in one round", ns, n)
				}
			}
			for ns, n := range askedLabels {
				if n > 1 {
					t.Fatalf("labels of namespace %q read %d times in one round", ns, n)
				}
			}
		})
	}
}

// A pod placed while the cache does not show it bound yet, though it is counted where
// this process bound it (its launch failed, and it is queued again), does not keep away
// from itself, by its own term or as the holder of it; another pod of the same term in
// its zone does keep it away. A pod pinned to its Node (bound there) is placed there
// whatever the pods there, as a kubelet admits it. A request kept out of an agent by an
// existing pod's term does not answer, from memory, one of the same shape that term
// does not count.
func TestAntiAffinityOfItselfAndOfTheSameShape(t *testing.T) {
	h1 := []mesos.Offer{offer("h1", 4, 4096)}
	nodeLabels := map[string]string{corev1.LabelHostname: "h1"}
	self := replica("r1", "ns", "web", awayFrom("web", corev1.LabelHostname, "ns"))
	self.PodUID = "u1"
	res := Place(Input{Requests: []Request{self}, Offers: h1, Cluster: "c", PodsIn: func(string) []PlacedPod {
		return []PlacedPod{{UID: "u1", Namespace: "ns", Labels: map[string]string{"app": "web"}, NodeLabels: nodeLabels}}
	}})
	if len(res.Assignments) != 1 {
		t.Fatalf("a pod kept away from itself: %v", res.Unplaced)
	}

	h1Zone := map[string]string{corev1.LabelHostname: "h1", corev1.LabelTopologyZone: "a"}
	self = replica("r1", "ns", "web", awayFrom("web", corev1.LabelTopologyZone, "ns"))
	self.PodUID = "u1"
	itself := PlacedPod{UID: "u1", Namespace: "ns", Labels: map[string]string{"app": "web"}, NodeLabels: h1Zone, AntiAffinity: self.AntiAffinity}
	zoned := func(string) (NodeState, bool) {
		return NodeState{Labels: map[string]string{corev1.LabelTopologyZone: "a"}}, true
	}
	res = Place(Input{Requests: []Request{self}, Offers: h1, Cluster: "c", NodeSpec: zoned, AntiAffinityPods: []PlacedPod{itself},
		PodsIn: func(string) []PlacedPod { return []PlacedPod{itself} }})
	if len(res.Assignments) != 1 {
		t.Fatalf("a pod kept away by its own term: %v", res.Unplaced)
	}
	other := itself
	other.UID, other.NodeLabels = "u2", map[string]string{corev1.LabelHostname: "h2", corev1.LabelTopologyZone: "a"}
	res = Place(Input{Requests: []Request{self}, Offers: h1, Cluster: "c", NodeSpec: zoned, AntiAffinityPods: []PlacedPod{itself, other}})
	if want := "0/1 agents available: 1 didn't satisfy existing pods anti-affinity rules."; res.Unplaced["r1"] != want {
		t.Fatalf("unplaced %q, want %q", res.Unplaced["r1"], want)
	}
	pinned := self
	pinned.Node = agentnode.NodeName("c", "h1", 0)
	res = Place(Input{Requests: []Request{pinned}, Offers: h1, Cluster: "c", NodeSpec: zoned, AntiAffinityPods: []PlacedPod{itself, other},
		PodsIn: func(string) []PlacedPod { return []PlacedPod{itself, other} }})
	if len(res.Assignments) != 1 {
		t.Fatalf("a pod bound to its Node kept from it: %v", res.Unplaced)
	}

	res = Place(Input{Requests: []Request{replica("r1", "ns", "web"), replica("r2", "ns", "db")}, Offers: h1, Cluster: "c",
		AntiAffinityPods: []PlacedPod{{UID: "u9", Namespace: "ns", Labels: map[string]string{"app": "x"}, NodeLabels: nodeLabels,
			AntiAffinity: []PodTerm{awayFrom("web", corev1.LabelHostname, "ns")}}}})
	if len(res.Assignments) != 1 || res.Assignments[0].Request.ID != "r2" {
		t.Fatalf("placed %v, want r2 alone (unplaced: %v)", res.Assignments, res.Unplaced)
	}
}

// A round without anti-affinity asks for no pods.
func TestNoAntiAffinityListsNoPods(t *testing.T) {
	in := Input{Requests: []Request{{ID: "r", CPUs: 1, Namespace: "ns", Labels: map[string]string{"app": "web"}}},
		Offers: []mesos.Offer{offer("h1", 4, 4096)}, Cluster: "c",
		PodsIn: func(string) []PlacedPod { t.Fatal("pods listed in a round without anti-affinity"); return nil }}
	if res := Place(in); len(res.Assignments) != 1 {
		t.Fatalf("not placed: %v", res.Unplaced)
	}
}

// BenchmarkPlaceAntiAffinity places 10,000 replicas of ten workloads, each kept one per
// agent by required anti-affinity on the hostname, over 1,000 offers, with 100 replicas
// of each running already on agents of the round: 900 of each are placed, and 100 fit
// nowhere.
func BenchmarkPlaceAntiAffinity(b *testing.B) {
	in := tenWorkloads(func(r *Request, away PodTerm) { r.AntiAffinity = []PodTerm{away} })
	in.AntiAffinityPods = in.PodsIn("")
	b.ReportAllocs()
	for b.Loop() {
		if res := Place(in); len(res.Assignments) != 9000 {
			b.Fatalf("placed %d, want 9,000", len(res.Assignments))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(in.Requests))/1e3, "µs/task")
}

// tenWorkloads is a round of 10,000 replicas of ten workloads (app-0 … app-9, in
// namespace ns) over 1,000 offers, with 100 replicas of each running already, one per
// agent: PodsIn lists those. term gives each request its terms, with away, a term
// against the pods of its workload in the agent's hostname; the running replicas get
// the request's required anti-affinity terms.
func tenWorkloads(term func(r *Request, away PodTerm)) Input {
	in := benchInput(1000, 10000, 16)
	var running []PlacedPod
	for i := range in.Requests {
		r := &in.Requests[i]
		app := fmt.Sprintf("app-%d", i%10)
		r.NodeSelector, r.HostPorts = nil, nil
		r.Namespace, r.Labels, r.PodUID = "ns", map[string]string{"app": app}, r.ID
		term(r, awayFrom(app, corev1.LabelHostname, "ns"))
		if i < 1000 {
			running = append(running, PlacedPod{UID: "running-" + r.ID, Namespace: "ns", Labels: r.Labels,
				NodeLabels: map[string]string{corev1.LabelHostname: fmt.Sprintf("agent-%d", i)}, AntiAffinity: r.AntiAffinity})
		}
	}
	in.PodsIn = func(string) []PlacedPod { return running }
	return in
}
