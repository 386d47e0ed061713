package placement

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// portsMsg is the reason a task's host ports are not free on an agent.
const portsMsg = "didn't have free ports for the requested pod ports"

// placeCase is one round of Place and what it should do: where each request goes, and
// why the others go nowhere.
type placeCase struct {
	name     string
	in       Input
	want     map[string]string // request id → hostname placed on
	unplaced map[string]string // request id → explanation
	waiting  []string          // request ids, sorted
}

// runPlaceCases runs each case as a subtest, with checkResult's checks on top.
func runPlaceCases(t *testing.T, cases []placeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := Place(tc.in)
			checkResult(t, tc.in, res)
			got := map[string]string{}
			for _, a := range res.Assignments {
				got[a.Request.ID] = a.Hostname
			}
			if want := tc.want; !maps.Equal(got, want) {
				t.Errorf("placed %v, want %v", got, want)
			}
			if want := tc.unplaced; !maps.Equal(res.Unplaced, want) && len(res.Unplaced)+len(want) > 0 {
				t.Errorf("unplaced %v, want %v", res.Unplaced, want)
			}
			if got, want := slices.Sorted(maps.Keys(res.Waiting)), tc.waiting; !slices.Equal(got, want) {
				t.Errorf("waiting %v, want %v", got, want)
			}
		})
	}
}

// TestPlaceResources checks the scalar resources: a task fits while an offer has enough
// usable cpus, memory, disk and gpus left.
func TestPlaceResources(t *testing.T) {
	runPlaceCases(t, []placeCase{
		{
			name: "fits the only offer",
			in:   Input{Requests: []Request{req("t1", 1, 128)}, Offers: []mesos.Offer{offer("a", 2, 1024)}},
			want: map[string]string{"t1": "a"},
		},
		{
			name:     "insufficient cpus",
			in:       Input{Requests: []Request{req("t", 3, 128)}, Offers: []mesos.Offer{offer("a", 2, 1024)}},
			unplaced: map[string]string{"t": "0/1 agents available: 1 insufficient cpus."},
		},
		{
			name:     "insufficient memory",
			in:       Input{Requests: []Request{req("t", 1, 2048)}, Offers: []mesos.Offer{offer("a", 2, 1024)}},
			unplaced: map[string]string{"t": "0/1 agents available: 1 insufficient memory."},
		},
		{
			name:     "insufficient disk",
			in:       Input{Requests: []Request{{ID: "t", CPUs: 0.1, DiskMB: 5000}}, Offers: []mesos.Offer{offer("a", 2, 1024)}},
			unplaced: map[string]string{"t": "0/1 agents available: 1 insufficient disk."},
		},
		{
			name:     "insufficient gpus: none offered",
			in:       Input{Requests: []Request{{ID: "t", CPUs: 0.1, GPUs: 1}}, Offers: []mesos.Offer{offer("a", 2, 1024)}},
			unplaced: map[string]string{"t": "0/1 agents available: 1 insufficient gpus."},
		},
		{
			name: "gpus and disk fit where offered",
			in: Input{Requests: []Request{{ID: "g", CPUs: 0.1, GPUs: 2}, {ID: "d", CPUs: 0.1, DiskMB: 900}},
				Offers: []mesos.Offer{offer("a", 2, 1024), offer("b", 2, 1024, scalar("gpus", 2, "*"))}},
			want: map[string]string{"g": "b", "d": "a"},
		},
		{
			name: "several tasks pack into one offer until it is full",
			in:   Input{Requests: []Request{req("t1", 1, 100), req("t2", 1, 100), req("t3", 1, 100)}, Offers: []mesos.Offer{offer("a", 2, 1024)}},
			want: map[string]string{"t1": "a", "t2": "a"}, waiting: []string{"t3"},
		},
		{
			name: "revocable resources are not used",
			in: Input{Requests: []Request{req("t", 2, 10)}, Offers: []mesos.Offer{func() mesos.Offer {
				o := offer("a", 1, 1024)
				r := scalar("cpus", 4, "*")
				r.Revocable = &mesos.Resource_RevocableInfo{}
				o.Resources = append(o.Resources, r)
				return o
			}()}},
			unplaced: map[string]string{"t": "0/1 agents available: 1 insufficient cpus."},
		},
	})
}

// TestPlaceExplains checks the words for a task that fits nowhere, and that a
// remembered failure is reused only while it still holds.
func TestPlaceExplains(t *testing.T) {
	runPlaceCases(t, []placeCase{
		{
			name:     "each agent counted once, by its first failing reason",
			in:       Input{Requests: []Request{req("t1", 4, 2048)}, Offers: []mesos.Offer{offer("a", 2, 1024), offer("b", 1, 4096), offer("c", 8, 64)}},
			unplaced: map[string]string{"t1": "0/3 agents available: 2 insufficient cpus, 1 insufficient memory."},
		},
		{
			name: "reasons sorted by count, then alphabetically",
			in: Input{Requests: []Request{withSelector(req("t", 1, 100), "rack", "r1")}, Offers: []mesos.Offer{
				withAttr(offer("a", 0.5, 1024), "rack", "r1"), withAttr(offer("b", 0.5, 1024), "rack", "r1"),
				withAttr(offer("c", 2, 1024), "rack", "r2"), withAttr(offer("d", 2, 50), "rack", "r1"),
				withAttr(offer("e", 2, 1024), "rack", "r3"), withAttr(offer("f", 2, 10), "rack", "r1")}},
			unplaced: map[string]string{"t": "0/6 agents available: 2 didn't match node selector, 2 insufficient cpus, 2 insufficient memory."},
		},
		{
			name:     "no offers",
			in:       Input{Requests: []Request{req("t", 1, 1)}},
			unplaced: map[string]string{"t": "0/0 agents available: no offers."},
		},
		{
			name: "a remembered failure is worked out again after a placement",
			in: Input{Requests: []Request{req("big", 1, 2000), req("small", 1.5, 10), req("big2", 1, 2000)},
				Offers: []mesos.Offer{offer("a", 2, 1024)}},
			want: map[string]string{"small": "a"},
			unplaced: map[string]string{"big": "0/1 agents available: 1 insufficient memory.",
				"big2": "0/1 agents available: 1 insufficient cpus."},
		},
		{
			name: "a request that fit an offer as offered waits; one that never fit is unplaceable",
			in: Input{Requests: []Request{req("t1", 1.5, 100), req("t2", 1, 100), req("t3", 1, 100), req("huge", 3, 100)},
				Offers: []mesos.Offer{offer("a", 2, 1024), offer("b", 1, 1024)}},
			want:     map[string]string{"t1": "a", "t2": "b"},
			waiting:  []string{"t3"},
			unplaced: map[string]string{"huge": "0/2 agents available: 2 insufficient cpus."},
		},
		{
			name:     "nothing placed before it: unplaceable, though it would fit offers to come",
			in:       Input{Requests: []Request{req("t", 4, 100)}, Offers: []mesos.Offer{offer("a", 2, 1024)}},
			unplaced: map[string]string{"t": "0/1 agents available: 1 insufficient cpus."},
		},
		{
			name: "a remembered failure answers the same shape",
			in: Input{Requests: []Request{withSelector(req("a1", 4, 10), "rack", "r1"), withSelector(req("a2", 4, 10), "rack", "r1"), withSelector(req("b", 4, 10), "rack", "r2")},
				Offers: []mesos.Offer{withAttr(offer("a", 2, 1024), "rack", "r1"), withAttr(offer("b", 8, 1024), "rack", "r2")}},
			want: map[string]string{"b": "b"},
			unplaced: map[string]string{"a1": "0/2 agents available: 1 didn't match node selector, 1 insufficient cpus.",
				"a2": "0/2 agents available: 1 didn't match node selector, 1 insufficient cpus."},
		},
	})
}

// TestPlaceStrategy checks which of the offers a task fits it goes to.
func TestPlaceStrategy(t *testing.T) {
	runPlaceCases(t, []placeCase{
		{
			name: "spread takes the emptiest offer",
			in:   Input{Strategy: Spread, Requests: []Request{req("t1", 1, 100), req("t2", 1, 100)}, Offers: []mesos.Offer{offer("a", 3, 1024), offer("b", 4, 1024)}},
			want: map[string]string{"t1": "b", "t2": "a"},
		},
		{
			name: "spread counts memory as well as cpus",
			in:   Input{Strategy: Spread, Requests: []Request{req("t1", 1, 100)}, Offers: []mesos.Offer{offer("a", 4, 1000), offer("b", 4, 4000)}},
			want: map[string]string{"t1": "b"},
		},
		{
			name: "spread is the default and evens out equal offers",
			in:   Input{Requests: []Request{req("t1", 1, 100), req("t2", 1, 100), req("t3", 1, 100)}, Offers: []mesos.Offer{offer("a", 4, 1024), offer("b", 4, 1024), offer("c", 4, 1024)}},
			want: map[string]string{"t1": "a", "t2": "b", "t3": "c"},
		},
		{
			name: "binpack takes the fullest offer that fits",
			in:   Input{Strategy: Binpack, Requests: []Request{req("t1", 1, 100), req("t2", 1, 100), req("t3", 2, 100)}, Offers: []mesos.Offer{offer("a", 4, 1024), offer("b", 2, 1024), offer("c", 0.5, 1024)}},
			want: map[string]string{"t1": "b", "t2": "b", "t3": "a"},
		},
	})
}

// TestPlaceHostPorts checks that host ports come from offered ranges, once per agent.
func TestPlaceHostPorts(t *testing.T) {
	runPlaceCases(t, []placeCase{
		{
			name: "host port inside an offered range",
			in:   Input{Requests: []Request{withPorts(req("p", 0.1, 10), 31005, 31010)}, Offers: []mesos.Offer{offer("a", 2, 1024, ports(31000, 31010))}},
			want: map[string]string{"p": "a"},
		},
		{
			name:     "host port outside every range",
			in:       Input{Requests: []Request{withPorts(req("p", 0.1, 10), 31011)}, Offers: []mesos.Offer{offer("a", 2, 1024, ports(31000, 31010))}},
			unplaced: map[string]string{"p": "0/1 agents available: 1 " + portsMsg + "."},
		},
		{
			name:     "host port without a ports resource",
			in:       Input{Requests: []Request{withPorts(req("p", 0.1, 10), 80)}, Offers: []mesos.Offer{offer("a", 2, 1024)}},
			unplaced: map[string]string{"p": "0/1 agents available: 1 " + portsMsg + "."},
		},
		{
			name: "host port not given twice on one agent, but on another",
			in: Input{Requests: []Request{withPorts(req("p1", 0.1, 10), 31000), withPorts(req("p2", 0.1, 10), 31000), withPorts(req("p3", 0.1, 10), 31000)},
				Offers: []mesos.Offer{offer("a", 2, 1024, ports(31000, 31010)), offer("b", 1, 1024, ports(31000, 31010))}},
			want:     map[string]string{"p1": "a", "p2": "b"},
			unplaced: map[string]string{"p3": "0/2 agents available: 2 " + portsMsg + "."},
		},
		{
			name: "host port not given twice on one agent across its offers",
			in: Input{Requests: []Request{withPorts(req("p1", 0.1, 10), 31000), withPorts(req("p2", 0.1, 10), 31000)},
				Offers: []mesos.Offer{roleOffer("a", "x", 2, 1024, portsOf("x", [2]uint64{31000, 31000})), roleOffer("a", "y", 2, 1024, portsOf("y", [2]uint64{31000, 31000}))}},
			want:     map[string]string{"p1": "a"},
			unplaced: map[string]string{"p2": "0/1 agents available: 1 " + portsMsg + "."},
		},
		{
			name: "a port listed twice in one request is one port",
			in:   Input{Requests: []Request{withPorts(req("p", 0.1, 10), 31000, 31000)}, Offers: []mesos.Offer{offer("a", 2, 1024, ports(31000, 31000))}},
			want: map[string]string{"p": "a"},
		},
	})
}

// TestPlaceNodes checks which agents a task may go to: node selectors, required node
// affinity and the Node its pod is bound to.
func TestPlaceNodes(t *testing.T) {
	runPlaceCases(t, []placeCase{
		{
			name: "node selector by attribute name, by Node label, and by hostname",
			in: Input{Cluster: "c", Requests: []Request{
				withSelector(req("rack", 0.1, 1), "rack", "r2"),
				withSelector(req("label", 0.1, 1), "mesos.k8sm.io/attribute.rack", "r1"),
				withSelector(req("host", 0.1, 1), corev1.LabelHostname, "b"),
				withSelector(req("scalar", 0.1, 1), "gen", "4"),
				withSelector(req("none", 0.1, 1), "rack", "r9"),
			}, Offers: []mesos.Offer{withAttr(offer("a", 2, 1024), "rack", "r1"), withScalarAttr(withAttr(offer("b", 2, 1024), "rack", "r2"), "gen", 4)}},
			want:     map[string]string{"rack": "b", "label": "a", "host": "b", "scalar": "b"},
			unplaced: map[string]string{"none": "0/2 agents available: 2 didn't match node selector."},
		},
		{
			name: "node selector with several keys needs all",
			in: Input{Requests: []Request{withSelector(req("t", 0.1, 1), "rack", "r1", "zone", "z2")},
				Offers: []mesos.Offer{withAttr(withAttr(offer("a", 2, 1024), "rack", "r1"), "zone", "z1"), withAttr(withAttr(offer("b", 2, 1024), "rack", "r1"), "zone", "z2")}},
			want: map[string]string{"t": "b"},
		},
		{
			name: "required node affinity operators",
			in: Input{Requests: []Request{
				withAffinity(req("in", 0.1, 1), affinity(expr("rack", corev1.NodeSelectorOpIn, "r2", "r3"))),
				withAffinity(req("notin", 0.1, 1), affinity(expr("rack", corev1.NodeSelectorOpNotIn, "r2"))),
				withAffinity(req("exists", 0.1, 1), affinity(expr("ssd", corev1.NodeSelectorOpExists))),
				withAffinity(req("absent", 0.1, 1), affinity(expr("ssd", corev1.NodeSelectorOpDoesNotExist))),
				withAffinity(req("gt", 0.1, 1), affinity(expr("gen", corev1.NodeSelectorOpGt, "3"))),
				withAffinity(req("lt", 0.1, 1), affinity(expr("gen", corev1.NodeSelectorOpLt, "3"))),
				withAffinity(req("or", 0.1, 1), affinity(expr("rack", corev1.NodeSelectorOpIn, "r9"), expr("ssd", corev1.NodeSelectorOpExists))),
				withAffinity(req("field", 0.1, 1), affinity(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"mesos-c-a"}}}})),
				withAffinity(req("nothing", 0.1, 1), affinity(expr("gen", corev1.NodeSelectorOpGt, "9"))),
			}, Cluster: "c", Offers: []mesos.Offer{
				withScalarAttr(withAttr(offer("a", 2, 1024), "rack", "r1"), "gen", 2),
				withScalarAttr(withAttr(withAttr(offer("b", 2, 1024), "rack", "r2"), "ssd", "true"), "gen", 4),
			}},
			want:     map[string]string{"in": "b", "notin": "a", "exists": "b", "absent": "a", "gt": "b", "lt": "a", "or": "b", "field": "a"},
			unplaced: map[string]string{"nothing": "0/2 agents available: 2 didn't match node selector."},
		},
		{
			name: "node selector and affinity both apply",
			in: Input{Requests: []Request{withAffinity(withSelector(req("t", 0.1, 1), "rack", "r1"), affinity(expr("ssd", corev1.NodeSelectorOpExists)))},
				Offers: []mesos.Offer{withAttr(offer("a", 2, 1024), "rack", "r1"), withAttr(withAttr(offer("b", 2, 1024), "rack", "r2"), "ssd", "y"), withAttr(withAttr(offer("c", 2, 1024), "rack", "r1"), "ssd", "y")}},
			want: map[string]string{"t": "c"},
		},
		{
			name: "pinned to the agent its pod is bound to",
			in: Input{Cluster: "c", Requests: []Request{{ID: "t", CPUs: 1, Node: "mesos-c-b"}, {ID: "u", CPUs: 1, Node: "mesos-c-z"}},
				Offers: []mesos.Offer{offer("a", 4, 1024), offer("b", 2, 1024)}},
			want: map[string]string{"t": "b"}, unplaced: map[string]string{"u": "0/2 agents available: 2 didn't match the agent the pod is bound to."},
		},
	})
}

// TestPlaceRoles checks that a task with a role takes only resources of that role.
func TestPlaceRoles(t *testing.T) {
	runPlaceCases(t, []placeCase{
		{
			name: "role: only resources allocated to it",
			in: Input{Requests: []Request{{ID: "k8s", CPUs: 1, Role: "k8s"}, {ID: "batch", CPUs: 1, Role: "batch"}},
				Offers: []mesos.Offer{roleOffer("x", "k8s", 2, 1024)}},
			want:     map[string]string{"k8s": "x"},
			unplaced: map[string]string{"batch": "0/1 agents available: 1 had no resources for the requested role."},
		},
		{
			name: "role: the offer of the agent for that role",
			in: Input{Requests: []Request{{ID: "t", CPUs: 1, MemMB: 10, Role: "k8s"}},
				Offers: []mesos.Offer{roleOffer("x", "batch", 8, 1024), roleOffer("x", "k8s", 2, 1024)}},
			want: map[string]string{"t": "x"},
		},
		{
			name: "role: empty takes any role",
			in: Input{Requests: []Request{req("t1", 1, 10), req("t2", 1, 10)},
				Offers: []mesos.Offer{roleOffer("x", "batch", 1, 1024), roleOffer("y", "k8s", 1, 1024)}},
			want: map[string]string{"t1": "x", "t2": "y"},
		},
		{
			name: "role: reserved resources without allocation info count only for their role",
			in: Input{Requests: []Request{{ID: "r", CPUs: 2, Role: "k8s"}, {ID: "big", CPUs: 2, Role: "k8s"}},
				Offers: []mesos.Offer{{ID: mesos.OfferID{Value: "o"}, AgentID: mesos.AgentID{Value: "x"}, Hostname: "x",
					Resources: []mesos.Resource{scalar("cpus", 4, ""), reserved("cpus", 3, "k8s")}}}},
			want:     map[string]string{"r": "x"},
			unplaced: map[string]string{"big": "0/1 agents available: 1 insufficient cpus."},
		},
	})
}

// TestPlaceExecutor checks that an agent without the executor fits it too, once.
func TestPlaceExecutor(t *testing.T) {
	runPlaceCases(t, []placeCase{
		{
			name: "the executor is counted once per agent",
			in: Input{ExecutorID: "exec", ExecutorResources: Request{CPUs: 0.5, MemMB: 64},
				Requests: []Request{req("t1", 1, 100), req("t2", 0.5, 100), req("t3", 0.5, 100)}, Offers: []mesos.Offer{offer("a", 2, 1024)}},
			want:    map[string]string{"t1": "a", "t2": "a"},
			waiting: []string{"t3"},
		},
		{
			name: "the executor's resources make a task not fit",
			in: Input{ExecutorID: "exec", ExecutorResources: Request{CPUs: 0.1, MemMB: 64},
				Requests: []Request{req("t1", 1, 1000)}, Offers: []mesos.Offer{offer("a", 2, 1024)}},
			unplaced: map[string]string{"t1": "0/1 agents available: 1 insufficient memory."},
		},
		{
			name: "no executor resources where it already runs",
			in: Input{ExecutorID: "exec", ExecutorResources: Request{CPUs: 0.5, MemMB: 64},
				Requests: []Request{req("t1", 1, 100), req("t2", 1, 100)}, Offers: []mesos.Offer{withExecutor(offer("a", 2, 1024), "exec")}},
			want: map[string]string{"t1": "a", "t2": "a"},
		},
		{
			name: "another executor running does not count",
			in: Input{ExecutorID: "exec", ExecutorResources: Request{CPUs: 0.5, MemMB: 64},
				Requests: []Request{req("t1", 1, 100), req("t2", 1, 100)}, Offers: []mesos.Offer{withExecutor(offer("a", 2, 1024), "other")}},
			want: map[string]string{"t1": "a"}, waiting: []string{"t2"},
		},
	})
}

func TestAssignmentResources(t *testing.T) {
	o := offer("a", 2, 1024, portsOf("*", [2]uint64{31000, 31010}, [2]uint64{32000, 32010}))
	o.Resources = append(o.Resources, scalar("cpus", 1, "k8s"), portsOf("k8s", [2]uint64{33000, 33000}))
	in := Input{ExecutorID: "exec", ExecutorResources: Request{CPUs: 0.25, MemMB: 64},
		Requests: []Request{{ID: "t", CPUs: 2.5, MemMB: 256, HostPorts: []uint32{31006, 31005, 32000, 33000}}}, Offers: []mesos.Offer{o}}
	res := Place(in)
	checkResult(t, in, res)
	if len(res.Assignments) != 1 {
		t.Fatalf("not placed: %v", res.Unplaced)
	}
	a := res.Assignments[0]
	if got := sumOf(a.Resources, "cpus"); got != 2.5 {
		t.Errorf("task cpus = %v, want 2.5 (split over two resources)", got)
	}
	if got := sumOf(a.Resources, "mem"); got != 256 {
		t.Errorf("task mem = %v, want 256", got)
	}
	if got := sumOf(a.Resources, "disk"); got != 0 {
		t.Errorf("task disk = %v, want none", got)
	}
	if !a.NeedsExecutor || sumOf(a.ExecutorResources, "cpus") != 0.25 || sumOf(a.ExecutorResources, "mem") != 64 {
		t.Errorf("executor: needs %v, resources %v", a.NeedsExecutor, a.ExecutorResources)
	}
	var cpuRoles []string
	for _, r := range a.Resources {
		if r.Name == "cpus" {
			cpuRoles = append(cpuRoles, r.GetAllocationInfo().GetRole())
		}
	}
	slices.Sort(cpuRoles)
	if !slices.Equal(cpuRoles, []string{"*", "k8s"}) {
		t.Errorf("cpus allocation roles = %v, want * and k8s kept from the offer", cpuRoles)
	}
	var got []string
	for _, r := range a.Resources {
		if r.Name == "ports" {
			got = append(got, fmt.Sprintf("%s:%v", r.GetAllocationInfo().GetRole(), r.GetRanges().GetRange()))
		}
	}
	want := []string{"*:[{31005 31006} {32000 32000}]", "k8s:[{33000 33000}]"}
	if !slices.Equal(got, want) {
		t.Errorf("ports resources = %v, want %v", got, want)
	}
	if len(res.UnusedOffers) != 0 || len(res.UsedOffers) != 1 {
		t.Errorf("used %v, unused %v", res.UsedOffers, res.UnusedOffers)
	}
}

func TestExplain(t *testing.T) {
	var counts [reasonCount]int
	counts[reasonSelector], counts[reasonCPUs] = 1, 2
	if got, want := explain(3, counts), "0/3 agents available: 2 insufficient cpus, 1 didn't match node selector."; got != want {
		t.Errorf("explain = %q, want %q", got, want)
	}
}

func TestSameReasons(t *testing.T) {
	var cpus, both, selector [reasonCount]int
	cpus[reasonCPUs] = 1
	both[reasonCPUs], both[reasonSelector] = 3, 4
	selector[reasonSelector] = 2
	for _, tc := range []struct {
		name string
		a, b string
		want bool
	}{
		{"the same words", explain(1, cpus), explain(1, cpus), true},
		{"another number of agents", explain(1, cpus), explain(7, [reasonCount]int{reasonCPUs: 7}), true},
		{"the same reasons in another order", explain(7, both), explain(7, [reasonCount]int{reasonCPUs: 5, reasonSelector: 2}), true},
		{"a reason more", explain(1, cpus), explain(7, both), false},
		{"another reason", explain(2, selector), explain(2, [reasonCount]int{reasonCPUs: 2}), false},
		{"no offers and a reason", explain(0, cpus), explain(1, cpus), false},
		{"words not of explain", "not subscribed", "not subscribed either", false},
		{"words not of explain and an explanation", "0 insufficient cpus", explain(1, cpus), false},
	} {
		if got := SameReasons(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: SameReasons(%q, %q) = %v, want %v", tc.name, tc.a, tc.b, got, tc.want)
		}
	}
}

func benchInput(offers, tasks int, cpusPerAgent float64) Input {
	in := Input{Strategy: Spread, ExecutorID: "exec", ExecutorResources: Request{CPUs: 0.1, MemMB: 64}}
	for i := 0; i < offers; i++ {
		o := withAttr(offer(fmt.Sprintf("agent-%d", i), cpusPerAgent, 65536, ports(31000, 32000)), "rack", fmt.Sprintf("r%d", i%10))
		o.ID.Value = fmt.Sprintf("o-%d", i)
		o.AgentID.Value = fmt.Sprintf("a-%d", i)
		in.Offers = append(in.Offers, o)
	}
	for i := 0; i < tasks; i++ {
		r := Request{ID: fmt.Sprintf("t-%d", i), CPUs: 0.5, MemMB: 256}
		switch i % 10 {
		case 0:
			r.NodeSelector = map[string]string{"rack": "r3"}
		case 1:
			r.HostPorts = []uint32{31000 + uint32(i%1000)}
		}
		in.Requests = append(in.Requests, r)
	}
	return in
}

// BenchmarkPlace places tasks on offers with room for all of them (fits) and with room
// for about half (full: the rest are explained).
func BenchmarkPlace(b *testing.B) {
	for _, size := range []struct {
		offers, tasks int
		cpus          float64
		name          string
	}{{100, 1000, 16, "fits"}, {1000, 10000, 16, "fits"}, {1000, 10000, 3, "full"}} {
		b.Run(fmt.Sprintf("%doffers_%dtasks_%s", size.offers, size.tasks, size.name), func(b *testing.B) {
			in := benchInput(size.offers, size.tasks, size.cpus)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				res := Place(in)
				if len(res.Assignments) == 0 {
					b.Fatal("nothing placed")
				}
			}
			// Beside kube-scheduler, which places one pod at a time: a round's time per
			// pending task.
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(size.tasks)/1e3, "µs/task")
		})
	}
}

// BenchmarkPlaceOneOnHeldOffers places the one pod that comes alone on 1,000 held
// offers, as a scheduler that holds offers does for each such pod, with and without the
// agents' Nodes and the offers kept from the round before.
func BenchmarkPlaceOneOnHeldOffers(b *testing.B) {
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("cache=%v", cached), func(b *testing.B) {
			in := benchInput(1000, 1, 16)
			if cached {
				in.Cache = &Cache{}
			}
			b.ReportAllocs()
			for b.Loop() {
				if res := Place(in); len(res.Assignments) != 1 {
					b.Fatal("not placed")
				}
			}
		})
	}
}

// The cache hands out an agent's Node again while its hostname, port and attributes
// stay, makes it again when one changes, and forgets agents no longer offered.
func TestCacheNodes(t *testing.T) {
	base := withAttr(offer("h1", 4, 1024), "rack", "r1")
	for _, tc := range []struct {
		name   string
		change func(o *mesos.Offer)
		same   bool
	}{
		{"unchanged", func(*mesos.Offer) {}, true},
		{"another offer id", func(o *mesos.Offer) { o.ID.Value = "o-2" }, true},
		{"hostname", func(o *mesos.Offer) { o.Hostname = "h2" }, false},
		{"port", func(o *mesos.Offer) { o.URL = &mesos.URL{Scheme: "http", Address: mesos.Address{Port: 5052}} }, false},
		{"attribute value", func(o *mesos.Offer) { *o = withAttr(offer("h1", 4, 1024), "rack", "r2") }, false},
		{"attribute added", func(o *mesos.Offer) { *o = withAttr(withAttr(offer("h1", 4, 1024), "rack", "r1"), "zone", "z") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Cache
			e, _ := c.agent("c", &base)
			first := e.node
			next := base
			next.Attributes = slices.Clone(base.Attributes)
			tc.change(&next)
			e, _ = c.agent("c", &next)
			second := e.node
			if (first == second) != tc.same {
				t.Fatalf("the same Node handed out again: %v, want %v", first == second, tc.same)
			}
			if want := agentNode("c", &next); !equality.Semantic.DeepEqual(second, want) {
				t.Errorf("Node %+v, want %+v", second.ObjectMeta, want.ObjectMeta)
			}
		})
	}
	t.Run("agents that left are forgotten", func(t *testing.T) {
		var c Cache
		for i := range 2000 {
			o := offer(fmt.Sprintf("h%d", i), 1, 1)
			o.AgentID.Value = fmt.Sprintf("a-%d", i)
			c.agent("c", &o)
		}
		c.endRound(2000)
		stay := offer("h0", 1, 1)
		stay.AgentID.Value = "a-0"
		c.agent("c", &stay)
		c.endRound(1)
		if len(c.nodes) != 1 || c.nodes["a-0"] == nil {
			t.Fatalf("kept %d agents, want only a-0", len(c.nodes))
		}
	})
}

// A Cache hands each round the offers as an earlier round read them: what a round takes
// from an offer is not gone from it in the next (the scheduler launches on an offer or
// holds it whole), an offer handed in with other resources is read again, and offers no
// longer handed in are forgotten.
func TestCacheOffers(t *testing.T) {
	t.Run("a round's takes stay in that round", func(t *testing.T) {
		var c Cache
		in := Input{Requests: []Request{req("t1", 3, 100), req("t2", 0.5, 100)}, Offers: []mesos.Offer{offer("h1", 4, 1024)}, Cache: &c}
		for round := range 3 {
			res := Place(in)
			checkResult(t, in, res)
			if len(res.Assignments) != 2 {
				t.Fatalf("round %d placed %d of 2: %v", round, len(res.Assignments), res.Unplaced)
			}
			if got := sumOf(res.Assignments[0].Resources, "cpus"); got != 3 {
				t.Fatalf("round %d gave t1 %v cpus, want 3", round, got)
			}
		}
	})
	t.Run("an offer with other resources is read again", func(t *testing.T) {
		var c Cache
		in := Input{Requests: []Request{req("t1", 3, 100)}, Offers: []mesos.Offer{offer("h1", 4, 1024)}, Cache: &c}
		if res := Place(in); len(res.Assignments) != 1 {
			t.Fatalf("4 cpus: %v", res.Unplaced)
		}
		in.Offers = []mesos.Offer{offer("h1", 2, 1024)} // the same id, decoded anew
		if res := Place(in); len(res.Assignments) != 0 {
			t.Fatalf("t1 placed on 2 cpus: %+v", res.Assignments)
		}
	})
	t.Run("offers no longer handed in are forgotten", func(t *testing.T) {
		var c Cache
		in := Input{Cache: &c}
		for i := range 2000 {
			in.Offers = append(in.Offers, offer(fmt.Sprintf("h%d", i), 1, 1))
		}
		Place(in)
		in.Offers = in.Offers[:1]
		Place(in)
		if len(c.offers) != 1 || c.offers["o-h0"] == nil {
			t.Fatalf("kept %d offers, want only o-h0", len(c.offers))
		}
	})
}
