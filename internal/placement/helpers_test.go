package placement

import (
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	corev1 "k8s.io/api/core/v1"
)

// scalar is a scalar resource allocated to role (none when role is "").
func scalar(name string, v float64, role string) mesos.Resource {
	r := mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
	if role != "" {
		r.AllocationInfo = &mesos.Resource_AllocationInfo{Role: &role}
	}
	return r
}

// reserved is a scalar resource dynamically reserved for role, without allocation info
// (a framework that is not MULTI_ROLE).
func reserved(name string, v float64, role string) mesos.Resource {
	r := mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
	r.Reservations = []mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: &role}}
	return r
}

func portsOf(role string, rs ...[2]uint64) mesos.Resource {
	r := mesos.Resource{Name: "ports", Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{}}
	for _, x := range rs {
		r.Ranges.Range = append(r.Ranges.Range, mesos.Value_Range{Begin: x[0], End: x[1]})
	}
	if role != "" {
		r.AllocationInfo = &mesos.Resource_AllocationInfo{Role: &role}
	}
	return r
}

func ports(begin, end uint64) mesos.Resource { return portsOf("*", [2]uint64{begin, end}) }

// offer makes an offer of an agent named host with cpus, mem (MB), 1000 MB disk and
// extra resources, all allocated to role "*".
func offer(host string, cpus, mem float64, extra ...mesos.Resource) mesos.Offer {
	return mesos.Offer{
		ID:        mesos.OfferID{Value: "o-" + host},
		AgentID:   mesos.AgentID{Value: "a-" + host},
		Hostname:  host,
		Resources: append([]mesos.Resource{scalar("cpus", cpus, "*"), scalar("mem", mem, "*"), scalar("disk", 1000, "*")}, extra...),
	}
}

// roleOffer is an offer of agent host allocated to role (one offer per role, as Mesos
// makes them for MULTI_ROLE frameworks).
func roleOffer(host, role string, cpus, mem float64, extra ...mesos.Resource) mesos.Offer {
	return mesos.Offer{
		ID:        mesos.OfferID{Value: "o-" + host + "-" + role},
		AgentID:   mesos.AgentID{Value: "a-" + host},
		Hostname:  host,
		Resources: append([]mesos.Resource{scalar("cpus", cpus, role), scalar("mem", mem, role)}, extra...),
	}
}

func withAttr(o mesos.Offer, name, value string) mesos.Offer {
	o.Attributes = append(o.Attributes, mesos.Attribute{Name: name, Type: mesos.TEXT, Text: &mesos.Value_Text{Value: value}})
	return o
}

func withScalarAttr(o mesos.Offer, name string, v float64) mesos.Offer {
	o.Attributes = append(o.Attributes, mesos.Attribute{Name: name, Type: mesos.SCALAR, Scalar: &mesos.Value_Scalar{Value: v}})
	return o
}

func withExecutor(o mesos.Offer, id string) mesos.Offer {
	o.ExecutorIDs = append(o.ExecutorIDs, mesos.ExecutorID{Value: id})
	return o
}

func withID(o mesos.Offer, id string) mesos.Offer { o.ID.Value = id; return o }

func sumOf(res []mesos.Resource, name string) float64 {
	var s float64
	for _, r := range res {
		if r.Name == name {
			s += r.GetScalar().GetValue()
		}
	}
	return s
}

func req(id string, cpus, mem float64) Request { return Request{ID: id, CPUs: cpus, MemMB: mem} }

func withPorts(r Request, ps ...uint32) Request { r.HostPorts = ps; return r }

func affinity(terms ...corev1.NodeSelectorTerm) *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
}

func expr(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
}

func withAffinity(r Request, a *corev1.Affinity) Request { r.Affinity = a; return r }

func withSelector(r Request, kv ...string) Request {
	r.NodeSelector = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		r.NodeSelector[kv[i]] = kv[i+1]
	}
	return r
}

// checkResult checks what holds for every round: each assignment's resources are valid,
// come from its offers (the first offer of its agent and allocation role, with the
// others of them), and all tasks placed on them (plus a new executor) fit in them
// together; a request is placed or explained, never both; used and unused offers
// partition the offers, and an agent's offers of one role are used or unused together.
func checkResult(t *testing.T, in Input, res Result) {
	t.Helper()
	offers := map[string]*mesos.Offer{}
	group := func(o *mesos.Offer) string { return o.AgentID.Value + "/" + AllocationRole(o) }
	offered := map[string]mesos.Resources{} // by group
	first := map[string]string{}            // group -> its first offer id
	for i := range in.Offers {
		o := &in.Offers[i]
		offers[o.ID.Value] = o
		sum := offered[group(o)]
		sum.Add(o.Resources...)
		offered[group(o)] = sum
		if _, ok := first[group(o)]; !ok {
			first[group(o)] = o.ID.Value
		}
	}
	taken := map[string]mesos.Resources{} // by group
	for _, a := range res.Assignments {
		o := offers[a.OfferID.Value]
		if o == nil {
			t.Fatalf("assignment %s to unknown offer %s", a.Request.ID, a.OfferID.Value)
		}
		if first[group(o)] != a.OfferID.Value {
			t.Errorf("assignment %s to offer %s, not the first of its agent and role, %s", a.Request.ID, a.OfferID.Value, first[group(o)])
		}
		if a.AgentID != o.AgentID || a.Hostname != o.Hostname {
			t.Errorf("assignment %s: agent %s/%s, offer's %s/%s", a.Request.ID, a.AgentID.Value, a.Hostname, o.AgentID.Value, o.Hostname)
		}
		if err := resources.Validate(a.Resources...); err != nil {
			t.Errorf("assignment %s: invalid resources %v: %v", a.Request.ID, a.Resources, err)
		}
		if err := resources.Validate(a.ExecutorResources...); err != nil {
			t.Errorf("assignment %s: invalid executor resources %v: %v", a.Request.ID, a.ExecutorResources, err)
		}
		sum := taken[group(o)]
		sum.Add(a.Resources...)
		if a.NeedsExecutor {
			sum.Add(a.ExecutorResources...)
		}
		taken[group(o)] = sum
		if _, dup := res.Unplaced[a.Request.ID]; dup {
			t.Errorf("%s both placed and unplaced", a.Request.ID)
		}
	}
	for g, sum := range taken {
		if !resources.ContainsAll(offered[g], sum) {
			t.Errorf("offers %s: tasks take %v, more than offered %v", g, sum, offered[g])
		}
	}
	if n := len(res.UsedOffers) + len(res.UnusedOffers); n != len(in.Offers) {
		t.Errorf("used %v + unused %v offers, want %d", res.UsedOffers, res.UnusedOffers, len(in.Offers))
	}
	for _, id := range res.UsedOffers {
		if _, ok := taken[group(offers[id.Value])]; !ok {
			t.Errorf("offer %s listed as used without a task", id.Value)
		}
	}
	for _, id := range res.UnusedOffers {
		if _, ok := taken[group(offers[id.Value])]; ok {
			t.Errorf("offer %s listed as unused, though its agent's offers of its role got a task", id.Value)
		}
	}
	for id := range res.Waiting {
		if _, ok := res.Unplaced[id]; ok {
			t.Errorf("%s both waiting and unplaced", id)
		}
	}
	if len(res.Assignments)+len(res.Unplaced)+len(res.Waiting) != len(in.Requests) {
		t.Errorf("%d placed + %d unplaced + %d waiting, want %d requests", len(res.Assignments), len(res.Unplaced), len(res.Waiting), len(in.Requests))
	}
}

// hostsOf is the hostname each request was placed on, in the requests' order, "" for
// one not placed.
func hostsOf(res Result, reqs []Request) []string {
	got := make([]string, len(reqs))
	for _, a := range res.Assignments {
		for i, r := range reqs {
			if r.ID == a.Request.ID {
				got[i] = a.Hostname
			}
		}
	}
	return got
}
