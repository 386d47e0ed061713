package placement

import (
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
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
