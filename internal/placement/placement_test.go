package placement

import (
	"fmt"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
)

func scalar(name string, v float64, role string) mesos.Resource {
	r := mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
	if role != "" {
		r.AllocationInfo = &mesos.Resource_AllocationInfo{Role: &role}
	}
	return r
}

func ports(begin, end uint64) mesos.Resource {
	return mesos.Resource{Name: "ports", Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: []mesos.Value_Range{{Begin: begin, End: end}}}}
}

// offer makes an offer of an agent named host with cpus, mem (MB) and extra resources.
func offer(host string, cpus, mem float64, extra ...mesos.Resource) mesos.Offer {
	return mesos.Offer{
		ID:        mesos.OfferID{Value: "o-" + host},
		AgentID:   mesos.AgentID{Value: "a-" + host},
		Hostname:  host,
		Resources: append([]mesos.Resource{scalar("cpus", cpus, "*"), scalar("mem", mem, "*"), scalar("disk", 1000, "*")}, extra...),
	}
}

func withAttr(o mesos.Offer, name, value string) mesos.Offer {
	o.Attributes = append(o.Attributes, mesos.Attribute{Name: name, Type: mesos.TEXT, Text: &mesos.Value_Text{Value: value}})
	return o
}

func sumOf(res []mesos.Resource, name string) float64 {
	var s float64
	for _, r := range res {
		if r.Name == name {
			s += r.GetScalar().GetValue()
		}
	}
	return s
}

func TestPlace(t *testing.T) {
	req := func(id string, cpus, mem float64) Request { return Request{ID: id, CPUs: cpus, MemMB: mem} }
	for _, tc := range []struct {
		name     string
		in       Input
		want     map[string]string // request id → hostname placed on
		unplaced map[string]string // request id → explanation
	}{
		{
			name: "fits the only offer",
			in:   Input{Requests: []Request{req("t1", 1, 128)}, Offers: []mesos.Offer{offer("a", 2, 1024)}},
			want: map[string]string{"t1": "a"},
		},
		{
			name:     "insufficient cpus everywhere, counted per agent",
			in:       Input{Requests: []Request{req("t1", 4, 128)}, Offers: []mesos.Offer{offer("a", 2, 1024), offer("b", 1, 1024), offer("c", 8, 64)}},
			unplaced: map[string]string{"t1": "0/3 agents available: 1 insufficient memory, 2 insufficient cpus."},
		},
		{
			name:     "disk and gpus",
			in:       Input{Requests: []Request{{ID: "d", CPUs: 0.1, DiskMB: 5000}, {ID: "g", CPUs: 0.1, GPUs: 1}}, Offers: []mesos.Offer{offer("a", 2, 1024)}},
			unplaced: map[string]string{"d": "0/1 agents available: 1 insufficient disk.", "g": "0/1 agents available: 1 insufficient gpus."},
		},
		{
			name: "gpus fit where offered",
			in:   Input{Requests: []Request{{ID: "g", CPUs: 0.1, GPUs: 2}}, Offers: []mesos.Offer{offer("a", 2, 1024), offer("b", 2, 1024, scalar("gpus", 2, "*"))}},
			want: map[string]string{"g": "b"},
		},
		{
			name: "several tasks pack into one offer until it is full",
			in:   Input{Requests: []Request{req("t1", 1, 100), req("t2", 1, 100), req("t3", 1, 100)}, Offers: []mesos.Offer{offer("a", 2, 1024)}},
			want: map[string]string{"t1": "a", "t2": "a"}, unplaced: map[string]string{"t3": "0/1 agents available: 1 insufficient cpus."},
		},
		{
			name: "spread takes the emptiest offer",
			in:   Input{Strategy: Spread, Requests: []Request{req("t1", 1, 100), req("t2", 1, 100)}, Offers: []mesos.Offer{offer("a", 4, 1024), offer("b", 3, 1024)}},
			want: map[string]string{"t1": "a", "t2": "b"},
		},
		{
			name: "binpack takes the fullest offer that fits",
			in:   Input{Strategy: Binpack, Requests: []Request{req("t1", 1, 100), req("t2", 1, 100)}, Offers: []mesos.Offer{offer("a", 4, 1024), offer("b", 3, 1024)}},
			want: map[string]string{"t1": "b", "t2": "b"},
		},
		{
			name: "host ports inside a range, not twice on one agent",
			in: Input{Requests: []Request{{ID: "p1", CPUs: 0.1, HostPorts: []uint32{31000}}, {ID: "p2", CPUs: 0.1, HostPorts: []uint32{31000}}, {ID: "p3", CPUs: 0.1, HostPorts: []uint32{80}}},
				Offers: []mesos.Offer{offer("a", 2, 1024, ports(31000, 31010))}},
			want: map[string]string{"p1": "a"},
			unplaced: map[string]string{
				"p2": "0/1 agents available: 1 didn't have free ports for the requested pod ports.",
				"p3": "0/1 agents available: 1 didn't have free ports for the requested pod ports.",
			},
		},
		{
			name: "node selector by attribute name, by Node label, and by hostname",
			in: Input{Cluster: "c", Requests: []Request{
				{ID: "rack", CPUs: 0.1, NodeSelector: map[string]string{"rack": "r2"}},
				{ID: "label", CPUs: 0.1, NodeSelector: map[string]string{"mesos.k8sm.io/attribute.rack": "r1"}},
				{ID: "host", CPUs: 0.1, NodeSelector: map[string]string{corev1.LabelHostname: "b"}},
				{ID: "none", CPUs: 0.1, NodeSelector: map[string]string{"rack": "r9"}},
			}, Offers: []mesos.Offer{withAttr(offer("a", 2, 1024), "rack", "r1"), withAttr(offer("b", 2, 1024), "rack", "r2")}},
			want:     map[string]string{"rack": "b", "label": "a", "host": "b"},
			unplaced: map[string]string{"none": "0/2 agents available: 2 didn't match node selector."},
		},
		{
			name: "required node affinity operators",
			in: Input{Requests: []Request{
				{ID: "in", CPUs: 0.1, Affinity: affinity(corev1.NodeSelectorRequirement{Key: "rack", Operator: corev1.NodeSelectorOpIn, Values: []string{"r2", "r3"}})},
				{ID: "notin", CPUs: 0.1, Affinity: affinity(corev1.NodeSelectorRequirement{Key: "rack", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"r2"}})},
				{ID: "exists", CPUs: 0.1, Affinity: affinity(corev1.NodeSelectorRequirement{Key: "ssd", Operator: corev1.NodeSelectorOpExists})},
				{ID: "absent", CPUs: 0.1, Affinity: affinity(corev1.NodeSelectorRequirement{Key: "ssd", Operator: corev1.NodeSelectorOpDoesNotExist})},
				{ID: "gt", CPUs: 0.1, Affinity: affinity(corev1.NodeSelectorRequirement{Key: "gen", Operator: corev1.NodeSelectorOpGt, Values: []string{"3"}})},
				{ID: "lt", CPUs: 0.1, Affinity: affinity(corev1.NodeSelectorRequirement{Key: "gen", Operator: corev1.NodeSelectorOpLt, Values: []string{"3"}})},
			}, Offers: []mesos.Offer{
				withAttr(withAttr(offer("a", 2, 1024), "rack", "r1"), "gen", "2"),
				withAttr(withAttr(withAttr(offer("b", 2, 1024), "rack", "r2"), "ssd", "true"), "gen", "4"),
			}},
			want: map[string]string{"in": "b", "notin": "a", "exists": "b", "absent": "a", "gt": "b", "lt": "a"},
		},
		{
			name: "role: only resources allocated to it",
			in: Input{Requests: []Request{{ID: "k8s", CPUs: 1, Role: "k8s"}, {ID: "batch", CPUs: 1, Role: "batch"}},
				Offers: []mesos.Offer{{ID: mesos.OfferID{Value: "o"}, AgentID: mesos.AgentID{Value: "x"}, Hostname: "x",
					Resources: []mesos.Resource{scalar("cpus", 2, "k8s"), scalar("mem", 1024, "k8s")}}}},
			want:     map[string]string{"k8s": "x"},
			unplaced: map[string]string{"batch": "0/1 agents available: 1 had no resources for the requested role."},
		},
		{
			name: "pinned to the agent its pod is bound to",
			in:   Input{Requests: []Request{{ID: "t", CPUs: 1, Hostname: "b"}}, Offers: []mesos.Offer{offer("a", 4, 1024), offer("b", 2, 1024)}},
			want: map[string]string{"t": "b"},
		},
		{
			name: "the executor is counted once per agent",
			in: Input{ExecutorID: "exec", ExecutorResources: Request{CPUs: 0.5, MemMB: 64},
				Requests: []Request{req("t1", 1, 100), req("t2", 0.5, 100), req("t3", 0.5, 100)}, Offers: []mesos.Offer{offer("a", 2, 1024)}},
			want:     map[string]string{"t1": "a", "t2": "a"},
			unplaced: map[string]string{"t3": "0/1 agents available: 1 insufficient cpus."},
		},
		{
			name: "no executor resources where it already runs",
			in: Input{ExecutorID: "exec", ExecutorResources: Request{CPUs: 0.5, MemMB: 64},
				Requests: []Request{req("t1", 1, 100), req("t2", 1, 100)},
				Offers: []mesos.Offer{func() mesos.Offer {
					o := offer("a", 2, 1024)
					o.ExecutorIDs = []mesos.ExecutorID{{Value: "exec"}}
					return o
				}()}},
			want: map[string]string{"t1": "a", "t2": "a"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Place(tc.in)
			got := map[string]string{}
			for _, a := range res.Assignments {
				got[a.Request.ID] = a.Hostname
			}
			if fmt.Sprint(got) != fmt.Sprint(nilIfEmpty(tc.want)) {
				t.Errorf("placed %v, want %v", got, tc.want)
			}
			if fmt.Sprint(res.Unplaced) != fmt.Sprint(nilIfEmpty(tc.unplaced)) {
				t.Errorf("unplaced %v, want %v", res.Unplaced, tc.unplaced)
			}
		})
	}
}

func nilIfEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func affinity(r corev1.NodeSelectorRequirement) *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{r}}}}}}
}

func TestAssignmentResources(t *testing.T) {
	o := offer("a", 2, 1024, ports(31000, 31010))
	o.Resources = append(o.Resources, scalar("cpus", 1, "k8s"))
	res := Place(Input{ExecutorID: "exec", ExecutorResources: Request{CPUs: 0.25, MemMB: 64},
		Requests: []Request{{ID: "t", CPUs: 2.5, MemMB: 256, HostPorts: []uint32{31005}}}, Offers: []mesos.Offer{o}})
	if len(res.Assignments) != 1 {
		t.Fatalf("not placed: %v", res.Unplaced)
	}
	a := res.Assignments[0]
	if got := sumOf(a.Resources, "cpus"); got != 2.5 {
		t.Errorf("task cpus = %v, want 2.5 (split over roles)", got)
	}
	if got := sumOf(a.ExecutorResources, "cpus"); got != 0.25 {
		t.Errorf("executor cpus = %v, want 0.25", got)
	}
	if got := sumOf(a.Resources, "mem"); got != 256 {
		t.Errorf("task mem = %v", got)
	}
	var port *mesos.Resource
	for i := range a.Resources {
		if a.Resources[i].Name == "ports" {
			port = &a.Resources[i]
		}
	}
	if port == nil || len(port.GetRanges().GetRange()) != 1 || port.GetRanges().GetRange()[0].Begin != 31005 || port.GetRanges().GetRange()[0].End != 31005 {
		t.Errorf("port resource = %v", port)
	}
	for _, r := range a.Resources {
		if r.Name == "cpus" && r.GetAllocationInfo().GetRole() == "" {
			t.Errorf("allocation info lost: %v", r)
		}
	}
	if len(res.UnusedOffers) != 0 {
		t.Errorf("unused offers %v", res.UnusedOffers)
	}
}

func benchInput(offers, tasks int) Input {
	in := Input{Strategy: Spread, ExecutorID: "exec", ExecutorResources: Request{CPUs: 0.1, MemMB: 64}}
	for i := 0; i < offers; i++ {
		o := withAttr(offer(fmt.Sprintf("agent-%d", i), 16, 65536, ports(31000, 32000)), "rack", fmt.Sprintf("r%d", i%10))
		o.ID.Value = fmt.Sprintf("o-%d", i)
		o.AgentID.Value = fmt.Sprintf("a-%d", i)
		in.Offers = append(in.Offers, o)
	}
	for i := 0; i < tasks; i++ {
		r := Request{ID: fmt.Sprintf("t-%d", i), CPUs: 0.5, MemMB: 256}
		if i%10 == 0 {
			r.NodeSelector = map[string]string{"rack": "r3"}
		}
		in.Requests = append(in.Requests, r)
	}
	return in
}

func BenchmarkPlace(b *testing.B) {
	for _, size := range []struct{ offers, tasks int }{{100, 1000}, {1000, 10000}} {
		b.Run(fmt.Sprintf("%doffers_%dtasks", size.offers, size.tasks), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				in := benchInput(size.offers, size.tasks)
				b.StartTimer()
				res := Place(in)
				if len(res.Assignments) == 0 {
					b.Fatal("nothing placed")
				}
			}
		})
	}
}
