package placement

import (
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// besideOf is a pod affinity request: pod app=value in ns with the terms.
func besideOf(id, ns, value string, terms ...PodTerm) Request {
	r := replica(id, ns, value)
	r.PodAffinity = terms
	return r
}

// Required pod affinity puts a request only where, for each term, a pod all its terms
// count is in the agent's domain (on a Node, or placed earlier in the round); the first
// pod of a group that counts itself goes anywhere while no pod is counted, as
// kube-scheduler's InterPodAffinity filter has it. A Node without a term's key never
// qualifies.
func TestRequiredPodAffinity(t *testing.T) {
	host, zone := corev1.LabelHostname, corev1.LabelTopologyZone
	offers := []mesos.Offer{offer("h1", 4, 4096), offer("h2", 4, 4096), offer("h3", 4, 4096)}
	zones := map[string]string{"h1": "a", "h2": "a", "h3": "b"}
	nodeSpec := func(name string) (NodeState, bool) {
		for h, z := range zones {
			if strings.HasSuffix(name, h) {
				return NodeState{Labels: map[string]string{zone: z}}, true
			}
		}
		return NodeState{}, false
	}
	front := PodTerm{Selector: labels.SelectorFromSet(labels.Set{"tier": "front"}), Namespaces: []string{"ns"}, TopologyKey: host}
	for _, tc := range []struct {
		name     string
		requests []Request
		podsIn   []PlacedPod
		want     []string
		why      string
		binpack  bool
	}{
		{
			name:     "beside a pod on a Node",
			requests: []Request{besideOf("c1", "ns", "cache", awayFrom("web", host, "ns"))},
			podsIn:   []PlacedPod{onHost("ns", "web", "h2", "a")},
			want:     []string{"h2"},
			binpack:  true,
		},
		{
			name:     "no pod to be beside, and not one itself",
			requests: []Request{besideOf("c1", "ns", "cache", awayFrom("web", host, "ns"))},
			want:     []string{""},
			why:      "0/3 agents available: 3 didn't match pod affinity rules.",
		},
		{
			name:     "a pod of another namespace is not counted",
			requests: []Request{besideOf("c1", "ns", "cache", awayFrom("web", host, "ns"))},
			podsIn:   []PlacedPod{onHost("other", "web", "h2", "a")},
			want:     []string{""},
		},
		{
			name: "the first of a group goes anywhere, the next beside it",
			requests: []Request{besideOf("w1", "ns", "web", awayFrom("web", host, "ns")), besideOf("w2", "ns", "web", awayFrom("web", host, "ns")),
				besideOf("w3", "ns", "web", awayFrom("web", host, "ns"))},
			want: []string{"h1", "h1", "h1"},
		},
		{
			name:     "a zone: any agent of the pod's zone",
			requests: []Request{besideOf("c1", "ns", "cache", awayFrom("web", zone, "ns"))},
			podsIn:   []PlacedPod{onHost("ns", "web", "elsewhere", "b")},
			want:     []string{"h3"},
		},
		{
			name:     "a key no Node has: nowhere, even for the first of a group",
			requests: []Request{besideOf("w1", "ns", "web", awayFrom("web", "rack", "ns"))},
			want:     []string{""},
		},
		{
			// Counted term by term, h2 would qualify: the app=web pod in its zone, the
			// tier=front pod on it.
			name:     "a pod counts only when every term counts it",
			requests: []Request{besideOf("c1", "ns", "cache", awayFrom("web", zone, "ns"), front)},
			podsIn: []PlacedPod{onHost("ns", "web", "h1", "a"),
				{Namespace: "ns", Labels: map[string]string{"tier": "front"}, NodeLabels: map[string]string{host: "h2", zone: "a"}}},
			want: []string{""},
		},
		{
			name:     "a pod every term counts",
			requests: []Request{besideOf("c1", "ns", "cache", awayFrom("web", zone, "ns"), front)},
			podsIn: []PlacedPod{onHost("ns", "web", "h1", "a"),
				{Namespace: "ns", Labels: map[string]string{"app": "web", "tier": "front"}, NodeLabels: map[string]string{host: "h2", zone: "a"}}},
			want: []string{"h2"},
		},
		{
			name:     "a pod placed in the round is counted",
			requests: []Request{replica("w1", "ns", "web"), besideOf("c1", "ns", "cache", awayFrom("web", host, "ns"))},
			want:     []string{"h1", "h1"},
		},
		{
			name:     "beside a pod of a namespace the term chooses by labels",
			requests: []Request{besideOf("c1", "ns", "cache", teamA(host))},
			podsIn:   []PlacedPod{onHost("y", "web", "h1", "a"), onHost("x", "web", "h3", "b")},
			want:     []string{"h3"},
			binpack:  true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			strategy := Spread
			if tc.binpack {
				strategy = Binpack
			}
			res := Place(Input{Requests: tc.requests, Offers: offers, Cluster: "c", NodeSpec: nodeSpec, Strategy: strategy,
				PodsIn: func(ns string) []PlacedPod {
					var out []PlacedPod
					for _, p := range tc.podsIn {
						if ns == "" || p.Namespace == ns {
							out = append(out, p)
						}
					}
					return out
				},
				NamespaceLabels: func(ns string) map[string]string { return namespaceLabels[ns] }})
			got := hostsOf(res, tc.requests)
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("placed on %q, want %q (unplaced: %v)", got, tc.want, res.Unplaced)
			}
			if last := tc.requests[len(tc.requests)-1].ID; tc.why != "" && res.Unplaced[last] != tc.why {
				t.Fatalf("explanation %q, want %q", res.Unplaced[last], tc.why)
			}
		})
	}
}

// A pod counted where this process bound it, queued again before the cache shows the
// binding, and the only pod its affinity term counts, is the first of its group: it
// does not need itself beside it.
func TestPodAffinityOfItself(t *testing.T) {
	self := besideOf("w1", "ns", "web", awayFrom("web", corev1.LabelHostname, "ns"))
	self.PodUID = "u1"
	res := Place(Input{Requests: []Request{self}, Offers: []mesos.Offer{offer("h1", 4, 4096)}, Cluster: "c",
		PodsIn: func(string) []PlacedPod {
			return []PlacedPod{{UID: "u1", Namespace: "ns", Labels: map[string]string{"app": "web"}, NodeLabels: map[string]string{corev1.LabelHostname: "h2"}}}
		}})
	if len(res.Assignments) != 1 {
		t.Fatalf("not placed: %v", res.Unplaced)
	}

	// The same, on a Node whose label of the term's key is empty: a value like any other.
	alone := besideOf("w1", "ns", "web", awayFrom("web", "rack", "ns"))
	alone.PodUID = "u1"
	emptyRack := func(string) (NodeState, bool) { return NodeState{Labels: map[string]string{"rack": ""}}, true }
	res = Place(Input{Requests: []Request{alone}, Offers: []mesos.Offer{offer("h1", 4, 4096)}, Cluster: "c", NodeSpec: emptyRack,
		PodsIn: func(string) []PlacedPod {
			return []PlacedPod{{UID: "u1", Namespace: "ns", Labels: map[string]string{"app": "web"}, NodeLabels: map[string]string{"rack": ""}}}
		}})
	if len(res.Assignments) != 1 {
		t.Fatalf("on an empty label value: not placed: %v", res.Unplaced)
	}

	// Beside another of its group it goes, not beside itself; and a label whose value is
	// empty is a domain like any other.
	for _, rack := range []string{"r1", ""} {
		self := besideOf("w1", "ns", "web", awayFrom("web", "rack", "ns"))
		self.PodUID = "u1"
		on := func(host string) map[string]string {
			v := rack + "-" + host
			if rack == "" && host == "h1" {
				v = ""
			}
			return map[string]string{corev1.LabelHostname: host, "rack": v}
		}
		racks := func(name string) (NodeState, bool) {
			for _, h := range []string{"h1", "h2"} {
				if strings.HasSuffix(name, h) {
					return NodeState{Labels: on(h)}, true
				}
			}
			return NodeState{}, false
		}
		res = Place(Input{Requests: []Request{self}, Offers: []mesos.Offer{offer("h1", 4, 4096), offer("h2", 4, 4096)}, Cluster: "c",
			NodeSpec: racks, Strategy: Spread, PodsIn: func(string) []PlacedPod {
				return []PlacedPod{{UID: "u1", Namespace: "ns", Labels: map[string]string{"app": "web"}, NodeLabels: on("h1")},
					{UID: "u2", Namespace: "ns", Labels: map[string]string{"app": "web"}, NodeLabels: on("h2")}}
			}})
		if len(res.Assignments) != 1 || res.Assignments[0].Hostname != "h2" {
			t.Fatalf("rack %q: placed %v, want on h2, beside the other (unplaced %v)", rack, res.Assignments, res.Unplaced)
		}
	}
}
