package placement

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Preempt chooses the agent where the fewest, least important pods of lower priority
// make room, and only where the request may go but for its resources.
func TestPreempt(t *testing.T) {
	t0 := time.Now()
	node := func(name string, edit ...func(*corev1.Node)) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"rack": name}},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
		for _, e := range edit {
			e(n)
		}
		return n
	}
	pod := func(id string, priority int32, cpus float64, started int) Running {
		return Running{Pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: id, UID: types.UID(id)}}, Priority: priority, CPUs: cpus, MemMB: 64, Started: t0.Add(time.Duration(started) * time.Minute)}
	}
	protect := func(p Running) Running { p.Protected = true; return p }
	sized := func(p Running, mem float64) Running { p.MemMB = mem; return p }
	holding := func(p Running, ports ...uint32) Running { p.HostPorts = ports; return p }
	ofRole := func(p Running, role string) Running { p.Role = role; return p }
	asking := func(r Request, role string) Request { r.Role = role; return r }
	notReady := func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionUnknown }
	cordoned := func(n *corev1.Node) { n.Spec.Unschedulable = true }
	tainted := func(n *corev1.Node) {
		n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}}
	}
	remote := func(n *corev1.Node) { n.Labels[corev1.LabelTopologyRegion] = "us" }
	for _, tc := range []struct {
		name     string
		r        Request
		priority int32
		nodes    []PreemptNode
		want     string // "node: victims", or why none would do
	}{
		{name: "the lowest priority first, and no more than needed", r: req("t", 1, 64), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{pod("p50", 50, 1, 0), pod("p10", 10, 1, 0), pod("p200", 200, 1, 0)}}},
			want:  "a: p10"},
		{name: "of equal priority the one started last", r: req("t", 1, 64), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{pod("old", 10, 1, 0), pod("new", 10, 1, 5)}}},
			want:  "a: new"},
		{name: "several, and the reprieve keeps one not needed", r: req("t", 2, 64), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{pod("small", 1, 0.5, 0), pod("big1", 2, 1, 0), pod("big2", 3, 1, 0)}}},
			want:  "a: big1, big2"},
		{name: "never a pod of equal or higher priority", r: req("t", 1, 64), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{pod("eq", 100, 1, 0), pod("hi", 200, 1, 0)}}, {Node: node("b")}},
			want:  "preemption: 0/2 agents available: 2 had no pods of lower priority."},
		{name: "too little to free", r: req("t", 4, 64), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{pod("p1", 1, 1, 0), pod("p2", 1, 1, 0)}}},
			want:  "preemption: 0/1 agents available: 1 would not have room with every pod it may preempt gone."},
		{name: "the agent whose most important victim is least important", r: req("t", 1, 64), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{pod("a50", 50, 1, 0)}}, {Node: node("b"), Pods: []Running{pod("b20", 20, 1, 0)}}},
			want:  "b: b20"},
		{name: "then the one with the fewest victims", r: req("t", 2, 64), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{pod("a1", 10, 1, 0), pod("a2", 10, 1, 0)}}, {Node: node("b"), Pods: []Running{pod("b1", 10, 2, 0)}}},
			want:  "b: b1"},
		{name: "not where its node selector does not go", r: withSelector(req("t", 1, 64), "rack", "b"), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{pod("a1", 1, 1, 0)}}, {Node: node("b"), Pods: []Running{pod("b1", 50, 1, 0)}}},
			want:  "b: b1"},
		{name: "not on a Node that is not Ready, cordoned or tainted", r: req("t", 1, 64), priority: 100,
			nodes: []PreemptNode{{Node: node("a", notReady), Pods: []Running{pod("a1", 1, 1, 0)}}, {Node: node("b", cordoned), Pods: []Running{pod("b1", 1, 1, 0)}},
				{Node: node("c", tainted), Pods: []Running{pod("c1", 1, 1, 0)}}},
			want: "preemption: 0/3 agents available: 1 cordoned (unschedulable), 1 had untolerated taints, 1 not Ready."},
		{name: "a protected pod goes only when the others do not make room", r: req("t", 1, 64), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{protect(pod("guarded", 1, 1, 0)), pod("free", 50, 1, 0)}}},
			want:  "a: free"},
		{name: "and is reprieved first", r: req("t", 2, 64), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{protect(pod("guarded", 1, 1, 0)), pod("p20", 20, 1, 0), pod("p30", 30, 1, 0)}}},
			want:  "a: p20, p30"},
		{name: "when it must go, it goes", r: req("t", 2, 64), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{protect(pod("guarded", 1, 1, 0)), pod("p20", 20, 1, 0)}}},
			want:  "a: guarded, p20"},
		{name: "the agent with fewer protected victims first", r: req("t", 1, 64), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{protect(pod("a1", 1, 1, 0))}}, {Node: node("b"), Pods: []Running{pod("b1", 90, 1, 0)}}},
			want:  "b: b1"},
		{name: "on a Ready Node whose not-ready taint is not lifted yet", r: req("t", 1, 64), priority: 100,
			nodes: []PreemptNode{{Node: node("a", func(n *corev1.Node) {
				n.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule}}
			}), Pods: []Running{pod("a1", 1, 1, 0)}}}, want: "a: a1"},
		{name: "on a tainted Node it tolerates", r: func() Request {
			r := req("t", 1, 64)
			r.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
			return r
		}(), priority: 100, nodes: []PreemptNode{{Node: node("c", tainted), Pods: []Running{pod("c1", 1, 1, 0)}}}, want: "c: c1"},
		{name: "not in another region than the master's unless it selects one", r: req("t", 1, 64), priority: 100,
			nodes: []PreemptNode{{Node: node("a", remote), Pods: []Running{pod("a1", 1, 1, 0)}}},
			want:  "preemption: 0/1 agents available: 1 in another region than the master's, which the pod does not select."},
		{name: "nor where its node selector does not go", r: withSelector(req("t", 1, 64), "rack", "b"), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{pod("a1", 1, 1, 0)}}},
			want:  "preemption: 0/1 agents available: 1 didn't match node selector."},
		{name: "the pod holding a host port of the request goes, though another frees the room", r: withPorts(req("t", 1, 64), 8080), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{pod("low", 1, 1, 0), holding(pod("holder", 50, 1, 0), 8080)}}},
			want:  "a: holder"},
		{name: "a port no pod of the cluster holds is taken to be free", r: withPorts(req("t", 1, 64), 8080), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{holding(pod("other", 1, 1, 0), 9090)}}},
			want:  "a: other"},
		{name: "not where a pod that stays holds the port", r: withPorts(req("t", 1, 64), 8080), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{pod("a1", 1, 1, 0)}, PortsKept: []uint32{8080}}, {Node: node("b"), Pods: []Running{pod("b1", 50, 1, 0)}}},
			want:  "b: b1"},
		{name: "nor where the pod holding it is not of lower priority", r: withPorts(req("t", 1, 64), 8080), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{pod("a1", 1, 1, 0), holding(pod("equal", 100, 1, 0), 8080)}},
				{Node: node("b"), Pods: []Running{pod("b1", 1, 1, 0)}, PortsKept: []uint32{8080}}},
			want: "preemption: 0/2 agents available: 2 didn't have the pod's host ports free with only pods of lower priority gone."},
		{name: "for a request of a role, only pods of that role free room", r: asking(req("t", 1, 64), "db"), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{pod("any", 1, 1, 5), pod("web", 1, 1, 5)}},
				{Node: node("b"), Pods: []Running{pod("b-any", 1, 1, 5), ofRole(pod("db", 50, 1, 0), "db")}}},
			want: "b: db"},
		{name: "none where no pod of its role frees enough", r: asking(req("t", 1, 64), "db"), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{pod("any", 1, 1, 5), ofRole(pod("web", 1, 1, 5), "web")}}},
			want:  "preemption: 0/1 agents available: 1 would not have room with every pod it may preempt gone."},
		{name: "a pod that must go frees nothing of another role", r: asking(withPorts(req("t", 1, 64), 8080), "db"), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{holding(pod("holder", 1, 1, 5), 8080), ofRole(pod("db", 50, 1, 0), "db")}}},
			want:  "a: db, holder"},
		{name: "a request of no role takes what any role's pods free", r: req("t", 1, 64), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{ofRole(pod("db", 1, 1, 0), "db")}}},
			want:  "a: db"},
		{name: "a victim of the request's size in decimal memory units frees its room", r: req("t", 1, 250e6/(1<<20)), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{sized(pod("p250M", 10, 1, 0), 250e6/(1<<20)), pod("p20", 20, 1, 0)}}},
			want:  "a: p250M"}, // 238.4185791015625 MB, which both tasks hold as 238.419
		{name: "the agent's free room counts with what victims free", r: req("t", 2, 64), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{pod("p10", 10, 1, 0), pod("p20", 20, 1, 0)}, Free: []Room{{Role: "*", CPUs: 1, MemMB: 64}}}},
			want:  "a: p10"},
		{name: "so an agent with room needs fewer victims", r: req("t", 2, 64), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{pod("a1", 1, 1, 0), pod("a2", 1, 1, 0)}},
				{Node: node("b"), Pods: []Running{pod("b1", 1, 1, 0)}, Free: []Room{{Role: "*", CPUs: 1.5, MemMB: 1024}}}},
			want: "b: b1"},
		{name: "none where free room and every victim are too little", r: req("t", 4, 64), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{pod("p1", 1, 1, 0), pod("p2", 1, 1, 0)}, Free: []Room{{Role: "*", CPUs: 1, MemMB: 64}}}},
			want:  "preemption: 0/1 agents available: 1 would not have room with every pod it may preempt gone."},
		{name: "room that alone would do is not counted: it was taken since", r: req("t", 2, 64), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{pod("p1", 1, 1, 0), pod("p2", 2, 1, 0)}, Free: []Room{{Role: "*", CPUs: 4, MemMB: 1024}}}},
			want:  "a: p1, p2"},
		{name: "for a request of a role, only that role's room", r: asking(req("t", 2, 64), "db"), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{ofRole(pod("d1", 1, 1, 0), "db"), ofRole(pod("d2", 2, 1, 0), "db")},
				Free: []Room{{Role: "web", CPUs: 1, MemMB: 64}, {Role: "db", CPUs: 0.5, MemMB: 64}}}},
			want: "a: d1, d2"},
		{name: "of its role", r: asking(req("t", 2, 64), "db"), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{ofRole(pod("d1", 1, 1, 0), "db"), ofRole(pod("d2", 2, 1, 0), "db")},
				Free: []Room{{Role: "web", CPUs: 0.5, MemMB: 64}, {Role: "db", CPUs: 1, MemMB: 64}}}},
			want: "a: d1"},
		{name: "for a request of no role, none when the agent offered several roles", r: req("t", 2, 64), priority: 100,
			nodes: []PreemptNode{{Node: node("a"), Pods: []Running{pod("p1", 1, 1, 0), pod("p2", 2, 1, 0)},
				Free: []Room{{Role: "web", CPUs: 1, MemMB: 64}, {Role: "db", CPUs: 1, MemMB: 64}}}},
			want: "a: p1, p2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := Preempt(&tc.r, tc.priority, tc.nodes, "eu", nil)
			got := p.Why
			if ok {
				var ids []string
				for _, v := range p.Victims {
					ids = append(ids, tc.nodes[p.Node].Pods[v].Pod.Name)
				}
				slices.Sort(ids)
				got = fmt.Sprintf("%s: %s", tc.nodes[p.Node].Node.Name, strings.Join(ids, ", "))
			}
			if got != tc.want {
				t.Errorf("Preempt = %q, want %q", got, tc.want)
			}
		})
	}
}

// A pod that keeps the request off a Node by required anti-affinity (the request's
// terms, or its own) goes there whatever room it frees, and a Node where such a pod may
// not go is none. A pod the request's required pod affinity needs stays, and a Node
// where the affinity would not hold is none.
func TestPreemptWithPodTerms(t *testing.T) {
	const host, zone = corev1.LabelHostname, corev1.LabelTopologyZone
	node := func(name, z string) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{host: name, zone: z}},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
		if z == "-" {
			delete(n.Labels, zone) // a Node in no zone
		}
		return n
	}
	inZones := func(minDomains int32) Request {
		c := spreadOver("web", zone, 1)
		c.MinDomains = minDomains
		return spreading("t", "web", c)
	}
	// running is a pod of ns/app on a Node, as placement weighs it for preemption (uid
	// is its name) and as PodsIn lists it.
	type running struct {
		name, node, zone, app string
		priority              int32
		cpus                  float64
		terminating           bool
		terms                 []PodTerm
	}
	// fullerZone is zone z1 (Node a) with two replicas of those priorities and a pod of
	// priority 1, and zone z2 (Node b) with a replica and another pod, both of 200.
	fullerZone := func(web1, web2 int32) []running {
		return []running{{name: "web1", node: "a", zone: "z1", app: "web", priority: web1, cpus: 1}, {name: "web2", node: "a", zone: "z1", app: "web", priority: web2, cpus: 1},
			{name: "other", node: "a", zone: "z1", app: "db", priority: 1, cpus: 1},
			{name: "web3", node: "b", zone: "z2", app: "web", priority: 200, cpus: 1}, {name: "b-db", node: "b", zone: "z2", app: "db", priority: 200, cpus: 1}}
	}
	away := func(key string) PodTerm { return awayFrom("web", key, "ns") }
	near := func(app, key string) Request {
		r := replica("t", "ns", "web")
		r.PodAffinity = []PodTerm{awayFrom(app, key, "ns")}
		return r
	}
	for _, tc := range []struct {
		name string
		r    Request
		pods []running
		want string // "node: victims", or why none would do
	}{
		{name: "the replica on the Node goes, though a pod of lower priority frees the room",
			r: replica("t", "ns", "web", away(host)),
			pods: []running{{name: "web1", node: "a", zone: "z1", app: "web", priority: 50, cpus: 1}, {name: "other", node: "a", zone: "z1", app: "db", priority: 1, cpus: 1},
				{name: "b-web", node: "b", zone: "z1", app: "web", priority: 200, cpus: 1}, {name: "b-db", node: "b", zone: "z1", app: "db", priority: 1, cpus: 1}},
			want: "a: web1"},
		{name: "not where the replica is not of lower priority",
			r:    replica("t", "ns", "web", away(host)),
			pods: []running{{name: "web1", node: "a", zone: "z1", app: "web", priority: 100, cpus: 1}, {name: "other", node: "a", zone: "z1", app: "db", priority: 1, cpus: 1}},
			want: "preemption: 0/1 agents available: 1 didn't match pod anti-affinity rules with only pods of lower priority there gone."},
		{name: "not where a replica in the zone is on another Node",
			r: replica("t", "ns", "web", away(zone)),
			pods: []running{{name: "web1", node: "a", zone: "z1", app: "web", priority: 1, cpus: 1}, {name: "web2", node: "b", zone: "z1", app: "web", priority: 1, cpus: 1},
				{name: "c-db", node: "c", zone: "z2", app: "db", priority: 1, cpus: 1}},
			want: "c: c-db"},
		{name: "a pod whose own terms keep the request away goes",
			r: replica("t", "ns", "web"),
			pods: []running{{name: "loner", node: "a", zone: "z1", app: "db", priority: 1, cpus: 0.1, terms: []PodTerm{away(host)}},
				{name: "big", node: "a", zone: "z1", app: "db", priority: 1, cpus: 1, terms: nil}},
			want: "a: big, loner"},
		{name: "a replica being deleted is gone already",
			r: replica("t", "ns", "web", away(host)),
			pods: []running{{name: "web1", node: "a", zone: "z1", app: "web", priority: 500, cpus: 1, terminating: true},
				{name: "other", node: "a", zone: "z1", app: "db", priority: 1, cpus: 1}},
			want: "a: other"},
		{name: "the pod its affinity needs stays, though it is the least important",
			r:    near("cache", host),
			pods: []running{{name: "cache", node: "a", zone: "z1", app: "cache", priority: 1, cpus: 1}, {name: "other", node: "a", zone: "z1", app: "db", priority: 5, cpus: 1}},
			want: "a: other"},
		{name: "not on a Node without the pod its affinity needs",
			r: near("cache", host),
			pods: []running{{name: "cache", node: "a", zone: "z1", app: "cache", priority: 1, cpus: 1}, {name: "other", node: "a", zone: "z1", app: "db", priority: 50, cpus: 1},
				{name: "b-db", node: "b", zone: "z1", app: "db", priority: 1, cpus: 1}},
			want: "a: other"},
		{name: "none where the pod its affinity needs leaves too little, nor on a Node without it",
			r: near("cache", host),
			pods: []running{{name: "cache", node: "a", zone: "z1", app: "cache", priority: 1, cpus: 1}, {name: "a-big", node: "a", zone: "z1", app: "db", priority: 200, cpus: 1},
				{name: "b-db", node: "b", zone: "z1", app: "db", priority: 1, cpus: 1}},
			want: "preemption: 0/2 agents available: 1 didn't match pod affinity rules, 1 would not have room with every pod it may preempt gone."},
		{name: "a pod on another Node of the zone meets the term, and keeps nothing here",
			r: near("cache", zone),
			pods: []running{{name: "cache", node: "a", zone: "z1", app: "cache", priority: 1, cpus: 1},
				{name: "x", node: "b", zone: "z1", app: "db", priority: 5, cpus: 1}, {name: "y", node: "c", zone: "z2", app: "db", priority: 1, cpus: 1}},
			want: "b: x"},
		{name: "a pod being deleted meets no term",
			r: near("cache", host),
			pods: []running{{name: "cache", node: "a", zone: "z1", app: "cache", priority: 500, cpus: 1, terminating: true},
				{name: "other", node: "a", zone: "z1", app: "db", priority: 1, cpus: 1}, {name: "c2", node: "b", zone: "z1", app: "cache", priority: 500, cpus: 1},
				{name: "b-db", node: "b", zone: "z1", app: "db", priority: 1, cpus: 1}},
			want: "b: b-db"},
		{name: "the first pod of a group goes to any Node",
			r:    near("web", host),
			pods: []running{{name: "db", node: "a", zone: "z1", app: "db", priority: 1, cpus: 1}},
			want: "a: db"},
		{name: "the replica in the fuller zone goes, though another pod frees the room",
			r:    inZones(0),
			pods: fullerZone(10, 20),
			want: "a: web1"},
		{name: "not where the spread would not hold with every pod of lower priority gone",
			r:    inZones(0),
			pods: fullerZone(200, 200),
			want: "preemption: 0/2 agents available: 1 didn't match pod topology spread constraints with every pod it may preempt gone, 1 had no pods of lower priority."},
		{name: "nor on a Node without the constraint's key",
			r:    inZones(0),
			pods: []running{{name: "x", node: "c", zone: "-", app: "db", priority: 1, cpus: 1}},
			want: "preemption: 0/2 agents available: 1 didn't match pod topology spread constraints (missing required label), 1 had no pods of lower priority."},
		{name: "with fewer zones than minDomains, the emptiest counts none",
			r: inZones(3),
			pods: []running{{name: "web1", node: "a", zone: "z1", app: "web", priority: 10, cpus: 1}, {name: "other", node: "a", zone: "z1", app: "db", priority: 1, cpus: 1},
				{name: "web2", node: "b", zone: "z2", app: "web", priority: 50, cpus: 1}, {name: "b-db", node: "b", zone: "z2", app: "db", priority: 1, cpus: 1}},
			want: "a: web1"},
		{name: "terms of pods in other namespaces count nothing here",
			r:    replica("t", "ns", "web", awayFrom("web", host, "elsewhere")),
			pods: []running{{name: "web1", node: "a", zone: "z1", app: "web", priority: 1, cpus: 1}, {name: "other", node: "a", zone: "z1", app: "db", priority: 2, cpus: 1}},
			want: "a: web1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var nodes []PreemptNode
			at := map[string]int{}
			pods := &PodsOnNodes{}
			var placed []PlacedPod
			for _, p := range tc.pods {
				pp := PlacedPod{UID: p.name, Namespace: "ns", Labels: map[string]string{"app": p.app}, NodeName: p.node,
					NodeLabels: node(p.node, p.zone).Labels, Terminating: p.terminating, AntiAffinity: p.terms}
				placed = append(placed, pp)
				if len(p.terms) > 0 {
					pods.AntiAffinityPods = append(pods.AntiAffinityPods, pp)
				}
				if p.terminating {
					continue // being deleted: frees its room already, as the scheduler leaves it out
				}
				i, ok := at[p.node]
				if !ok {
					i, at[p.node] = len(nodes), len(nodes)
					nodes = append(nodes, PreemptNode{Node: node(p.node, p.zone)})
				}
				nodes[i].Pods = append(nodes[i].Pods, Running{Pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.name, UID: types.UID(p.name),
					Namespace: pp.Namespace, Labels: pp.Labels}}, Priority: p.priority, CPUs: p.cpus})
			}
			if _, ok := at["a"]; !ok {
				nodes = append(nodes, PreemptNode{Node: node("a", "z1")})
			}
			pods.PodsIn = func(ns string) []PlacedPod {
				var out []PlacedPod
				for _, p := range placed {
					if ns == "" || p.Namespace == ns {
						out = append(out, p)
					}
				}
				return out
			}
			p, ok := Preempt(&tc.r, 100, nodes, "", pods)
			got := p.Why
			if ok {
				var ids []string
				for _, v := range p.Victims {
					ids = append(ids, nodes[p.Node].Pods[v].Pod.Name)
				}
				slices.Sort(ids)
				got = fmt.Sprintf("%s: %s", nodes[p.Node].Node.Name, strings.Join(ids, ", "))
			}
			if got != tc.want {
				t.Errorf("Preempt = %q, want %q", got, tc.want)
			}
		})
	}
}

// One preemptor with required anti-affinity over 1,000 full Nodes of 10 pods each
// (10,000 pods, a tenth of them its replicas, each with the same term): the pods are
// read once for the request, and each Node is a lookup.
func BenchmarkPreemptAntiAffinity(b *testing.B) {
	const nodesN, perNode = 1000, 10
	away := awayFrom("web", corev1.LabelHostname, "ns")
	var nodes []PreemptNode
	var placed, withTerms []PlacedPod
	for n := range nodesN {
		name := fmt.Sprintf("h%04d", n)
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
		pn := PreemptNode{Node: node}
		for i := range perNode {
			uid, app := fmt.Sprintf("%s-%d", name, i), "db"
			if i == 0 && n%10 == 0 {
				app = "web"
			}
			p := PlacedPod{UID: uid, Namespace: "ns", Labels: map[string]string{"app": app}, NodeName: name, NodeLabels: node.Labels}
			if app == "web" {
				p.AntiAffinity = []PodTerm{away}
				withTerms = append(withTerms, p)
			}
			placed = append(placed, p)
			pn.Pods = append(pn.Pods, Running{Pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: uid, UID: types.UID(uid)}}, Priority: int32(i), CPUs: 0.1})
		}
		nodes = append(nodes, pn)
	}
	r := replica("t", "ns", "web", away)
	r.CPUs = 0.3
	for b.Loop() {
		pods := &PodsOnNodes{PodsIn: func(string) []PlacedPod { return placed }, AntiAffinityPods: withTerms}
		if _, ok := Preempt(&r, 100, nodes, "", pods); !ok {
			b.Fatal("no preemption")
		}
	}
}

// One preemptor with a spread constraint over 100 zones of 1,000 full Nodes of 10 pods
// each (10,000 pods, a tenth of them the replicas it counts): the domains are counted
// once for the request, and each victim taken is a count taken back.
func BenchmarkPreemptSpread(b *testing.B) {
	const nodesN, perNode = 1000, 10
	var nodes []PreemptNode
	var placed []PlacedPod
	for n := range nodesN {
		name := fmt.Sprintf("h%04d", n)
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name,
			corev1.LabelTopologyZone: fmt.Sprintf("z%02d", n%100)}},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
		pn := PreemptNode{Node: node}
		for i := range perNode {
			uid, app := fmt.Sprintf("%s-%d", name, i), "db"
			if i == 0 {
				app = "web"
			}
			labels := map[string]string{"app": app}
			placed = append(placed, PlacedPod{UID: uid, Namespace: "ns", Labels: labels, NodeName: name, NodeLabels: node.Labels})
			pn.Pods = append(pn.Pods, Running{Pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: uid, UID: types.UID(uid), Namespace: "ns", Labels: labels}},
				Priority: int32(i), CPUs: 0.1})
		}
		nodes = append(nodes, pn)
	}
	r := spreading("t", "web", spreadOver("web", corev1.LabelTopologyZone, 1))
	r.CPUs = 0.3
	for b.Loop() {
		pods := &PodsOnNodes{PodsIn: func(string) []PlacedPod { return placed }}
		if _, ok := Preempt(&r, 100, nodes, "", pods); !ok {
			b.Fatal("no preemption")
		}
	}
}
