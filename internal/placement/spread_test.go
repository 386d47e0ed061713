package placement

import (
	"slices"
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/k8sm/k8sm/internal/agentnode"
)

// spreadOver is a DoNotSchedule constraint over key of the pods app=value.
func spreadOver(value, key string, maxSkew int32) SpreadConstraint {
	return SpreadConstraint{MaxSkew: maxSkew, TopologyKey: key, Selector: labels.SelectorFromSet(labels.Set{"app": value})}
}

// spreading is a request of pod app=value in ns with the constraints.
func spreading(id, value string, cs ...SpreadConstraint) Request {
	r := replica(id, "ns", value)
	r.Spread = cs
	return r
}

// A DoNotSchedule spread constraint keeps the pods it counts within maxSkew of the
// emptiest eligible domain, as kube-scheduler's PodTopologySpread filter does: pods on
// Nodes and placed earlier in the round count, the cluster's Nodes without offers are
// domains too, minDomains makes the emptiest hold 0, only Nodes the pod's node
// selector matches count unless nodeAffinityPolicy is Ignore, and with nodeTaintsPolicy
// Honor only Nodes whose taints the pod tolerates count.
func TestSpreadConstraints(t *testing.T) {
	host, zone := corev1.LabelHostname, corev1.LabelTopologyZone
	offers := []mesos.Offer{withAttr(offer("h1", 8, 8192), "rack", "r1"), withAttr(offer("h2", 8, 8192), "rack", "r1"), offer("h3", 8, 8192)}
	zones := map[string]string{"h1": "a", "h2": "a", "h3": "b", "h4": "b"}
	// tainted are the hosts whose Nodes have a NoSchedule taint, in the case running.
	// unreachable those the node lifecycle taints unreachable.
	var tainted, unreachable []string
	gpu := corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	taintsOf := func(h string) []corev1.Taint {
		// The cluster's own agent taint is on every agent's Node, and never held
		// against its pods.
		taints := []corev1.Taint{{Key: agentnode.TaintAgent, Effect: corev1.TaintEffectNoSchedule}}
		if slices.Contains(tainted, h) {
			taints = append(taints, gpu)
		}
		if slices.Contains(unreachable, h) {
			taints = append(taints, corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule})
		}
		return taints
	}
	node := func(h string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: agentnode.NodeName("c", h, 0), Labels: map[string]string{host: h, zone: zones[h]}},
			Spec: corev1.NodeSpec{Taints: taintsOf(h)}}
	}
	nodeSpec := func(name string) (NodeState, bool) {
		for h, z := range zones {
			if strings.HasSuffix(name, "-"+h) {
				return NodeState{Labels: map[string]string{zone: z}, Taints: taintsOf(h)}, true
			}
		}
		return NodeState{}, false
	}
	on := func(value, h string) PlacedPod {
		return PlacedPod{Namespace: "ns", Labels: map[string]string{"app": value}, NodeName: node(h).Name, NodeLabels: node(h).Labels}
	}
	n := func(k int, value string, cs ...SpreadConstraint) []Request {
		var out []Request
		for i := 0; i < k; i++ {
			out = append(out, spreading(value+"-"+string(rune('a'+i)), value, cs...))
		}
		return out
	}
	minDomains := spreadOver("web", host, 1)
	minDomains.MinDomains = 5
	onRack := spreadOver("web", host, 1)
	ignoring := onRack
	ignoring.IgnoreNodeAffinity = true
	honoring := spreadOver("web", host, 1)
	honoring.HonorTaints = true
	tolerating := n(1, "web", honoring)
	tolerating[0].ID, tolerating[0].Tolerations = "web-t", []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
	for _, tc := range []struct {
		name        string
		requests    []Request
		podsIn      []PlacedPod
		nodes       []string
		tainted     []string
		unreachable []string
		// selector gives each request a node selector of rack=r1.
		selector bool
		want     []string
		why      string
	}{
		{name: "packed pods spread one by one", requests: n(6, "web", spreadOver("web", host, 1)),
			want: []string{"h1", "h2", "h3", "h1", "h2", "h3"}},
		{name: "pods on Nodes count", requests: n(1, "web", spreadOver("web", host, 1)),
			podsIn: []PlacedPod{on("web", "h1"), on("web", "h1"), on("web", "h2")}, want: []string{"h3"}},
		{name: "terminating pods do not count", requests: n(1, "web", spreadOver("web", host, 1)),
			podsIn: []PlacedPod{{Namespace: "ns", Labels: map[string]string{"app": "web"}, NodeName: node("h3").Name, NodeLabels: node("h3").Labels, Terminating: true},
				on("web", "h1"), on("web", "h2")}, want: []string{"h3"}},
		{name: "pods of other labels do not count", requests: n(1, "web", spreadOver("web", host, 1)),
			podsIn: []PlacedPod{on("db", "h1"), on("db", "h1")}, want: []string{"h1"}},
		{name: "a Node without an offer is a domain", requests: n(1, "web", spreadOver("web", host, 1)),
			podsIn: []PlacedPod{on("web", "h1"), on("web", "h2"), on("web", "h3")}, nodes: []string{"h1", "h2", "h3", "h4"},
			want: []string{""}, why: "0/3 agents available: 3 didn't match pod topology spread constraints."},
		{name: "fewer domains than minDomains", requests: n(4, "web", minDomains), want: []string{"h1", "h2", "h3", ""}},
		{name: "zones", requests: n(4, "web", spreadOver("web", zone, 1)), want: []string{"h1", "h3", "h1", "h3"}},
		{name: "only the Nodes the node selector matches count", requests: n(2, "web", onRack), selector: true,
			podsIn: []PlacedPod{on("web", "h1")}, nodes: []string{"h1", "h2", "h3", "h4"}, want: []string{"h2", "h2"}},
		{name: "unless nodeAffinityPolicy is Ignore", requests: n(2, "web", ignoring), selector: true,
			podsIn: []PlacedPod{on("web", "h1")}, nodes: []string{"h1", "h2", "h3", "h4"}, want: []string{"h2", ""}},
		{name: "pods on a Node not the cluster's do not count", requests: n(1, "web", spreadOver("web", zone, 1)),
			podsIn: []PlacedPod{{Namespace: "ns", Labels: map[string]string{"app": "web"}, NodeName: "kubelet-1", NodeLabels: map[string]string{zone: "a"}},
				{Namespace: "ns", Labels: map[string]string{"app": "web"}, NodeName: "kubelet-1", NodeLabels: map[string]string{zone: "a"}}},
			want: []string{"h1"}},
		// h4, without an offer, is a domain holding none, so none may go where one runs.
		{name: "a tainted Node counts", requests: n(1, "web", spreadOver("web", host, 1)), tainted: []string{"h4"},
			podsIn: []PlacedPod{on("web", "h1"), on("web", "h2"), on("web", "h3")}, nodes: []string{"h1", "h2", "h3", "h4"},
			want: []string{""}},
		{name: "unless nodeTaintsPolicy is Honor", requests: n(1, "web", honoring), tainted: []string{"h4"},
			podsIn: []PlacedPod{on("web", "h1"), on("web", "h2"), on("web", "h3")}, nodes: []string{"h1", "h2", "h3", "h4"},
			want: []string{"h1"}},
		{name: "Honor, a pod that tolerates the taint", requests: tolerating, tainted: []string{"h4"},
			podsIn: []PlacedPod{on("web", "h1"), on("web", "h2"), on("web", "h3")}, nodes: []string{"h1", "h2", "h3", "h4"},
			want: []string{""}},
		// Pods of one workload that tolerate different taints count different domains.
		{name: "Honor, pods of other tolerations", requests: append(n(1, "web", honoring), tolerating...), tainted: []string{"h4"},
			podsIn: []PlacedPod{on("web", "h1"), on("web", "h2"), on("web", "h3")}, nodes: []string{"h1", "h2", "h3", "h4"},
			want: []string{"h1", ""}},
		// h3 is offered, but keeps the pod away by its taint: Honor takes its domain
		// out too.
		{name: "a tainted agent", requests: n(1, "web", spreadOver("web", host, 1)), tainted: []string{"h3"},
			podsIn: []PlacedPod{on("web", "h1"), on("web", "h2")}, want: []string{""}},
		{name: "a tainted agent, Honor", requests: n(1, "web", honoring), tainted: []string{"h3"},
			podsIn: []PlacedPod{on("web", "h1"), on("web", "h2")}, want: []string{"h1"}},
		// Unreachable and without an offer, h4 is no domain, as kube-scheduler has it;
		// offered, h3 is, as it takes pods (its offer says its agent is there).
		{name: "Honor, a Node unreachable", requests: n(1, "web", honoring), unreachable: []string{"h4"},
			podsIn: []PlacedPod{on("web", "h1"), on("web", "h2"), on("web", "h3")}, nodes: []string{"h1", "h2", "h3", "h4"},
			want: []string{"h1"}},
		{name: "Honor, an agent offered though unreachable", requests: n(1, "web", honoring), unreachable: []string{"h3"},
			podsIn: []PlacedPod{on("web", "h1"), on("web", "h2")}, nodes: []string{"h1", "h2", "h3"}, want: []string{"h3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tainted, unreachable = tc.tainted, tc.unreachable
			reqs := slices.Clone(tc.requests)
			for i := range reqs {
				if tc.selector {
					reqs[i].NodeSelector = map[string]string{"rack": "r1"}
				}
			}
			in := Input{Requests: reqs, Offers: offers, Cluster: "c", NodeSpec: nodeSpec, Strategy: Binpack,
				PodsIn: func(ns string) []PlacedPod { return tc.podsIn }}
			if tc.nodes != nil {
				in.ClusterNodes = func() []*corev1.Node {
					var out []*corev1.Node
					for _, h := range tc.nodes {
						out = append(out, node(h))
					}
					return out
				}
			}
			res := Place(in)
			got := hostsOf(res, reqs)
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("placed on %q, want %q (unplaced: %v)", got, tc.want, res.Unplaced)
			}
			if last := reqs[len(reqs)-1].ID; tc.why != "" && res.Unplaced[last] != tc.why {
				t.Fatalf("explanation %q, want %q", res.Unplaced[last], tc.why)
			}
		})
	}
}

// BenchmarkPlaceSpread places 10,000 replicas of ten workloads, each spread over the
// agents' hostnames with maxSkew 1, over 1,000 offers.
func BenchmarkPlaceSpread(b *testing.B) {
	in := benchInput(1000, 10000, 16)
	for i := range in.Requests {
		r := &in.Requests[i]
		app := "app-" + string(rune('a'+i%10))
		r.NodeSelector, r.HostPorts = nil, nil
		r.Namespace, r.Labels = "ns", map[string]string{"app": app}
		r.Spread = []SpreadConstraint{spreadOver(app, corev1.LabelHostname, 1)}
	}
	b.ReportAllocs()
	for b.Loop() {
		if res := Place(in); len(res.Assignments) != 10000 {
			b.Fatalf("placed %d, want 10,000", len(res.Assignments))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(in.Requests))/1e3, "µs/task")
}

// An agent whose Node has not a constraint's key takes none of its pods, in
// kube-scheduler's words; groups of constraints made one after another in a round count
// the pods placed before them, and a namespace's pods count only for its own; a pod
// placed again on its own Node (bound there) is counted once.
func TestSpreadAcrossGroupsAndNamespaces(t *testing.T) {
	host := corev1.LabelHostname
	keyless := []mesos.Offer{withAttr(offer("h1", 0.5, 4096), "rack", "r1"), offer("h2", 8, 8192)}
	res := Place(Input{Requests: []Request{spreading("w1", "web", spreadOver("web", "rack", 1))}, Offers: keyless, Cluster: "c"})
	if want := "0/2 agents available: 1 didn't match pod topology spread constraints (missing required label), 1 insufficient cpus."; res.Unplaced["w1"] != want {
		t.Fatalf("unplaced %q, want %q", res.Unplaced["w1"], want)
	}

	three := []mesos.Offer{offer("h1", 8, 8192), offer("h2", 8, 8192), offer("h3", 8, 8192)}
	place := func(reqs ...Request) []string {
		return hostsOf(Place(Input{Requests: reqs, Offers: three, Cluster: "c", Strategy: Binpack}), reqs)
	}
	// Two workloads over the same hosts, the second's group made after the first's
	// pods were placed: both spread, counting what was placed before.
	a1, a2 := spreading("a1", "web", spreadOver("web", host, 1)), spreading("a2", "web", spreadOver("web", host, 1))
	b1 := spreading("b1", "web", spreadOver("web", host, 1), SpreadConstraint{MaxSkew: 1, TopologyKey: host, Selector: labels.Everything()})
	if got := strings.Join(place(a1, a2, b1), ","); got != "h1,h2,h3" {
		t.Fatalf("placed on %s, want h1,h2,h3", got)
	}
	// Another namespace's pods of the same labels count not.
	other := spreading("o1", "web")
	other.Namespace = "other"
	other2 := other
	other2.ID = "o2"
	if got := strings.Join(place(other, other2, a1), ","); got != "h1,h1,h1" {
		t.Fatalf("placed on %s, want h1,h1,h1", got)
	}
	// Nor when the group was made before they were placed.
	c1, c2 := spreading("c1", "web", spreadOver("web", host, 2)), spreading("c2", "web", spreadOver("web", host, 2))
	if got := strings.Join(place(c1, other, other2, c2), ","); got != "h1,h1,h1,h1" {
		t.Fatalf("placed on %s, want h1,h1,h1,h1", got)
	}
	// A bound pod placed again on its Node is among the pods on Nodes already.
	pinned := spreading("p1", "web", spreadOver("web", host, 1))
	pinned.Node, pinned.PodUID = agentnode.NodeName("c", "h1", 0), "u-p1"
	onH := func(h string) PlacedPod {
		return PlacedPod{UID: "u-" + h, Namespace: "ns", Labels: map[string]string{"app": "web"}, NodeName: agentnode.NodeName("c", h, 0),
			NodeLabels: map[string]string{host: h}}
	}
	podsIn := []PlacedPod{onH("h2"), {UID: "u-p1", Namespace: "ns", Labels: map[string]string{"app": "web"}, NodeName: agentnode.NodeName("c", "h1", 0),
		NodeLabels: map[string]string{host: "h1"}}}
	res = Place(Input{Requests: []Request{pinned, a1}, Offers: three[:2], Cluster: "c", Strategy: Binpack,
		PodsIn: func(string) []PlacedPod { return podsIn }})
	if len(res.Assignments) != 2 || res.Assignments[1].Hostname != "h1" {
		t.Fatalf("placed %v, want p1 and a1 both on h1 (unplaced %v)", res.Assignments, res.Unplaced)
	}
}
