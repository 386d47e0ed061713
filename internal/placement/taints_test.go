package placement

import (
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/internal/agentnode"
)

// A cordoned agent's Node (kubectl cordon, drain) and one tainted NoSchedule or
// NoExecute get no task that does not tolerate it, and an agent whose Node name is
// another MesosCluster's Node none at all (the pod would be bound to that Node), as kube-scheduler filters such
// nodes; the cluster's own agent taint, PreferNoSchedule and a task pinned to its Node
// are not held against it, nor are the node lifecycle's not-ready and unreachable taints.
func TestCordonedAndTaintedAgentsAreSkipped(t *testing.T) {
	type spec struct {
		unschedulable bool
		taints        []corev1.Taint
	}
	dedicated := corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	nodes := map[string]spec{
		"mesos-c-cordoned":  {unschedulable: true},
		"mesos-c-dedicated": {taints: []corev1.Taint{dedicated}},
		"mesos-c-evicting":  {taints: []corev1.Taint{{Key: "example.com/maintenance", Effect: corev1.TaintEffectNoExecute}}},
		// The Node lifecycle's taints say the Lease was late, or the Node is new: an
		// offer says better that the agent is there.
		"mesos-c-own": {taints: []corev1.Taint{agentnode.Taint("c"), {Key: "soft", Effect: corev1.TaintEffectPreferNoSchedule},
			{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule}, {Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}}},
	}
	nodeSpec := func(name string) (NodeState, bool) {
		if name == "mesos-c-taken" {
			return NodeState{OtherCluster: true}, true
		}
		s, ok := nodes[name]
		return NodeState{Unschedulable: s.unschedulable, Taints: s.taints}, ok
	}
	tolerating := func(r Request, tol ...corev1.Toleration) Request { r.Tolerations = tol; return r }
	pinned := func(r Request, node string) Request { r.Node = node; return r }
	for _, tc := range []struct {
		name     string
		offers   []mesos.Offer
		req      Request
		want     string // the host, "" for none
		unplaced string
	}{
		{"a cordoned agent", []mesos.Offer{offer("cordoned", 4, 4096)}, req("t", 1, 128), "",
			"0/1 agents available: 1 cordoned (unschedulable)."},
		{"a cordoned agent, tolerated", []mesos.Offer{offer("cordoned", 4, 4096)},
			tolerating(req("t", 1, 128), corev1.Toleration{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists}), "cordoned", ""},
		{"a NoSchedule taint", []mesos.Offer{offer("dedicated", 4, 4096)}, req("t", 1, 128), "",
			"0/1 agents available: 1 had untolerated taints."},
		{"a NoSchedule taint, tolerated", []mesos.Offer{offer("dedicated", 4, 4096)},
			tolerating(req("t", 1, 128), corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}), "dedicated", ""},
		{"a NoExecute taint", []mesos.Offer{offer("evicting", 4, 4096)}, req("t", 1, 128), "",
			"0/1 agents available: 1 had untolerated taints."},
		{"the cluster's own taint and a PreferNoSchedule one", []mesos.Offer{offer("own", 4, 4096)}, req("t", 1, 128), "own", ""},
		{"an agent without a Node yet", []mesos.Offer{offer("new", 4, 4096)}, req("t", 1, 128), "new", ""},
		{"the other agents are used", []mesos.Offer{offer("cordoned", 4, 4096), offer("dedicated", 4, 4096), offer("own", 4, 4096)},
			req("t", 1, 128), "own", ""},
		{"an agent whose Node name is another cluster's Node", []mesos.Offer{offer("taken", 4, 4096)}, req("t", 1, 128), "",
			"0/1 agents available: 1 had their Node name taken by another MesosCluster's or a kubelet's Node."},
		{"pinned to a cordoned agent's Node", []mesos.Offer{offer("cordoned", 4, 4096)}, pinned(req("t", 1, 128), "mesos-c-cordoned"), "cordoned", ""},
		// Scheduled for maintenance: the offer says so before its Node does.
		{"an agent scheduled for maintenance", []mesos.Offer{draining(offer("own", 4, 4096))}, req("t", 1, 128), "",
			"0/1 agents available: 1 had untolerated taints."},
		{"an agent scheduled for maintenance, tolerated", []mesos.Offer{draining(offer("new", 4, 4096))},
			tolerating(req("t", 1, 128), corev1.Toleration{Key: agentnode.TaintMaintenance, Operator: corev1.TolerationOpExists}), "new", ""},
		{"the other agent is scheduled for maintenance", []mesos.Offer{draining(offer("new", 4, 4096)), offer("own", 4, 4096)},
			req("t", 1, 128), "own", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Place(Input{Requests: []Request{tc.req}, Offers: tc.offers, Cluster: "c", NodeSpec: nodeSpec})
			host := ""
			if len(res.Assignments) == 1 {
				host = res.Assignments[0].Hostname
			}
			if host != tc.want || res.Unplaced["t"] != tc.unplaced {
				t.Errorf("placed on %q, unplaced %q; want %q, %q", host, res.Unplaced["t"], tc.want, tc.unplaced)
			}
		})
	}
}

// draining is an offer of an agent whose machine is scheduled for maintenance.
func draining(o mesos.Offer) mesos.Offer {
	o.Unavailability = &mesos.Unavailability{Start: mesos.TimeInfo{Nanoseconds: 1}}
	return o
}

// A pod that selects kubernetes.io/arch, as many charts do, fits an agent of that
// architecture (its "arch" attribute, amd64 without one), and no other.
func TestAPodSelectingAnArchitecture(t *testing.T) {
	arm := withAttr(offer("arm", 4, 4096), "arch", "arm64")
	for _, tc := range []struct {
		arch, want string
	}{
		{"amd64", "plain"},
		{"arm64", "arm"},
		{"s390x", ""},
	} {
		r := req("t", 1, 128)
		r.NodeSelector = map[string]string{corev1.LabelArchStable: tc.arch}
		res := Place(Input{Requests: []Request{r}, Offers: []mesos.Offer{offer("plain", 4, 4096), arm}, Cluster: "c"})
		host := ""
		if len(res.Assignments) == 1 {
			host = res.Assignments[0].Hostname
		}
		if host != tc.want {
			t.Errorf("arch %s: placed on %q, want %q", tc.arch, host, tc.want)
		}
	}
}
