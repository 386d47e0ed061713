package placement

import (
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A selector matches the labels of the agent's Node object as well as those read off the
// offer; the offer's win, and the Node's in k8sm's domain or for the hostname count for
// nothing. Over rounds with a Cache, a Node's labels changed are seen in the next round.
func TestSelectorsMatchTheNodesOwnLabels(t *testing.T) {
	rack := withAttr(offer("h1", 4, 1024), "rack", "r1")
	for _, tc := range []struct {
		name     string
		labels   map[string]string
		selector map[string]string
		fits     bool
	}{
		{"a label of the Node", map[string]string{"disktype": "ssd"}, map[string]string{"disktype": "ssd"}, true},
		{"a label neither has", map[string]string{"disktype": "ssd"}, map[string]string{"disktype": "hdd"}, false},
		{"an offer's attribute, by name", map[string]string{"rack": "r9"}, map[string]string{"rack": "r9"}, false},
		{"an offer's attribute, as a label", map[string]string{"mesos.k8sm.io/attribute.rack": "r9"},
			map[string]string{"mesos.k8sm.io/attribute.rack": "r9"}, false},
		{"an attribute the offer does not have", map[string]string{"mesos.k8sm.io/attribute.zone": "a"},
			map[string]string{"mesos.k8sm.io/attribute.zone": "a"}, false},
		{"the hostname", map[string]string{corev1.LabelHostname: "h9"}, map[string]string{corev1.LabelHostname: "h9"}, false},
		{"the offer's hostname", map[string]string{corev1.LabelHostname: "h9"}, map[string]string{corev1.LabelHostname: "h1"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodeSpec := func(string) (NodeState, bool) { return NodeState{Labels: tc.labels}, true }
			res := Place(Input{Requests: []Request{{ID: "t", CPUs: 1, NodeSelector: tc.selector}}, Offers: []mesos.Offer{rack}, Cluster: "c", NodeSpec: nodeSpec})
			if got := len(res.Assignments) == 1; got != tc.fits {
				t.Fatalf("placed %v, want %v (%v)", got, tc.fits, res.Unplaced)
			}
		})
	}

	var c Cache
	labels := map[string]string{"disktype": "hdd"}
	in := Input{Requests: []Request{{ID: "t", CPUs: 1, NodeSelector: map[string]string{"disktype": "ssd"}}}, Offers: []mesos.Offer{rack},
		Cluster: "c", Cache: &c, NodeSpec: func(string) (NodeState, bool) { return NodeState{Labels: labels}, true }}
	for round, want := range []bool{false, false, true, true, false} {
		switch round {
		case 2:
			labels = map[string]string{"disktype": "ssd"}
		case 4:
			labels = nil
		}
		if got := len(Place(in).Assignments) == 1; got != want {
			t.Fatalf("round %d: placed %v, want %v", round, got, want)
		}
	}
}

// A request selecting a zone goes to an offer of an agent in that zone (the offer's
// fault domain), before the agent's Node is labelled.
func TestAZoneSelectorPlacesByTheOffersFaultDomain(t *testing.T) {
	inZone := func(o mesos.Offer, zone string) mesos.Offer {
		o.Domain = &mesos.DomainInfo{FaultDomain: &mesos.DomainInfo_FaultDomain{
			Region: mesos.DomainInfo_FaultDomain_RegionInfo{Name: "eu-1"}, Zone: mesos.DomainInfo_FaultDomain_ZoneInfo{Name: zone}}}
		return o
	}
	res := Place(Input{
		Requests: []Request{{ID: "t", CPUs: 0.5, MemMB: 64, NodeSelector: map[string]string{corev1.LabelTopologyZone: "eu-1b"}}},
		Offers:   []mesos.Offer{inZone(offer("a1", 4, 4096), "eu-1a"), inZone(offer("a2", 2, 4096), "eu-1b")},
		Strategy: Spread,
	})
	if len(res.Assignments) != 1 || res.Assignments[0].Hostname != "a2" {
		t.Fatalf("assignments = %+v, unplaced %v; want t on a2 (zone eu-1b)", res.Assignments, res.Unplaced)
	}
}

// An agent of another region than the master's (offered to a REGION_AWARE framework)
// takes only the requests that pick a region, or its Node: the others stay in the
// master's region, and are told why when it is full.
func TestARemoteRegionTakesOnlyRequestsThatSelectARegion(t *testing.T) {
	inRegion := func(o mesos.Offer, region string) mesos.Offer {
		o.Domain = &mesos.DomainInfo{FaultDomain: &mesos.DomainInfo_FaultDomain{
			Region: mesos.DomainInfo_FaultDomain_RegionInfo{Name: region}, Zone: mesos.DomainInfo_FaultDomain_ZoneInfo{Name: region + "a"}}}
		return o
	}
	big := func(id string) Request { return req(id, 3, 64) } // fits one agent, not both
	for _, tc := range []struct {
		name         string
		r            Request
		masterRegion string
		want         string // hostname, "" for none
		why          string
	}{
		{name: "no selector, room in the master's region", r: req("t", 0.5, 64), masterRegion: "eu", want: "local"},
		{name: "no selector, no room in the master's region", r: big("t"), masterRegion: "eu",
			why: "0/2 agents available: 1 in another region than the master's, which the pod does not select, 1 insufficient cpus."},
		{name: "a selector on another label", r: withSelector(big("t"), "rack", "r1"), masterRegion: "eu",
			why: "0/2 agents available: 1 didn't match node selector, 1 in another region than the master's, which the pod does not select."},
		{name: "a node selector on the region", r: withSelector(big("t"), corev1.LabelTopologyRegion, "us"), masterRegion: "eu", want: "remote"},
		{name: "affinity on the region", r: withAffinity(big("t"), affinity(expr(corev1.LabelTopologyRegion, corev1.NodeSelectorOpNotIn, "eu"))),
			masterRegion: "eu", want: "remote"},
		{name: "affinity with one term not on the region", r: withAffinity(big("t"),
			affinity(expr(corev1.LabelTopologyRegion, corev1.NodeSelectorOpIn, "us"), expr(corev1.LabelHostname, corev1.NodeSelectorOpExists))),
			masterRegion: "eu", why: "0/2 agents available: 1 in another region than the master's, which the pod does not select, 1 insufficient cpus."},
		{name: "affinity on the Node's name", r: withAffinity(big("t"), &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchFields: []corev1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{"mesos-c-remote"}}}}}}}}),
			masterRegion: "eu", want: "remote"},
		{name: "bound to the remote agent's Node", r: func() Request { r := big("t"); r.Node = "mesos-c-remote"; return r }(), masterRegion: "eu", want: "remote"},
		{name: "a master without a region makes no agent remote", r: big("t"), want: "remote"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Cluster: "c", Requests: []Request{tc.r}, Strategy: Spread, MasterRegion: tc.masterRegion,
				Offers: []mesos.Offer{inRegion(offer("local", 2, 4096), "eu"), inRegion(offer("remote", 4, 4096), "us")}}
			res := Place(in)
			checkResult(t, in, res)
			if got := hostsOf(res, in.Requests)[0]; got != tc.want {
				t.Errorf("placed on %q, want %q (unplaced %v)", got, tc.want, res.Unplaced)
			}
			if tc.why != "" && res.Unplaced["t"] != tc.why {
				t.Errorf("why = %q, want %q", res.Unplaced["t"], tc.why)
			}
		})
	}
}
