package agentnode

import (
	"slices"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

func scalar(name string, v float64) mesos.Resource {
	return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
}

func text(name, v string) mesos.Attribute {
	return mesos.Attribute{Name: name, Type: mesos.TEXT, Text: &mesos.Value_Text{Value: v}}
}

func TestNodeName(t *testing.T) {
	long := strings.Repeat("a", 300)
	for _, tc := range []struct {
		cluster, host string
		port          int32
		want          string
	}{
		// One agent per host (the default port, or a port not known): the name it
		// always had, so that existing installs see no rename.
		{"local", "agent-1", 0, "mesos-local-agent-1"},
		{"local", "agent-1", 5051, "mesos-local-agent-1"},
		{"Prod", "Agent_1.Example.COM", 5051, "mesos-prod-agent-1.example.com"},
		{"c", "10.0.0.1", 0, "mesos-c-10.0.0.1"},
		{"c", "host-", 0, "mesos-c-host"},
		// Agents that share a hostname (local setups, --hostname=127.0.0.1) serve on
		// ports of their own: one Node each.
		{"c", "127.0.0.1", 5052, "mesos-c-127.0.0.1-5052"},
		{"c", "127.0.0.1", 5053, "mesos-c-127.0.0.1-5053"},
	} {
		if got := NodeName(tc.cluster, tc.host, tc.port); got != tc.want {
			t.Errorf("NodeName(%q, %q, %d) = %q, want %q", tc.cluster, tc.host, tc.port, got, tc.want)
		}
	}
	for _, port := range []int32{0, 5052} {
		got := NodeName("c", long, port)
		if len(validation.IsDNS1123Subdomain(got)) != 0 {
			t.Errorf("NodeName of a long host is not a DNS subdomain: %q", got)
		}
		if port != 0 && !strings.HasSuffix(got, "-5052") {
			t.Errorf("NodeName of a long host lost its port: %q", got)
		}
	}
}

// TestNodeNameFromEveryPath: the Node name of an agent is the same from an offer (its
// url's port) and from GET_AGENTS (AgentInfo.port), for agents sharing a hostname.
func TestNodeNameFromEveryPath(t *testing.T) {
	host := "127.0.0.1"
	port := int32(5052)
	offer := mesos.Offer{Hostname: host, URL: &mesos.URL{Scheme: "http", Address: mesos.Address{Hostname: &host, Port: port}}}
	info := mesos.AgentInfo{Hostname: host, Port: &port}
	fromOffer := NodeName("c", offer.Hostname, OfferPort(&offer))
	fromAgents := Desired("c", Agent{ID: "S1", Hostname: info.Hostname, Port: info.GetPort()}).Name
	if fromOffer != fromAgents || fromOffer != "mesos-c-127.0.0.1-5052" {
		t.Fatalf("offer names %q, GET_AGENTS %q", fromOffer, fromAgents)
	}
	if got := OfferPort(&mesos.Offer{Hostname: host}); got != 0 {
		t.Fatalf("port of an offer without url: %d", got)
	}
}

// kubernetes.io/arch, which a kubelet always sets and many charts select on, is the
// agent's "arch" attribute, or amd64.
func TestArch(t *testing.T) {
	for _, tc := range []struct {
		name  string
		attrs []mesos.Attribute
		want  string
	}{
		{"no attribute", nil, "amd64"},
		{"an arch attribute", []mesos.Attribute{text("arch", "arm64")}, "arm64"},
		{"an arch that is no label value", []mesos.Attribute{text("arch", "arm 64")}, "amd64"},
		{"a scalar arch", []mesos.Attribute{{Name: "arch", Type: mesos.SCALAR, Scalar: &mesos.Value_Scalar{Value: 64}}}, "amd64"},
	} {
		a := Agent{Hostname: "h", Attributes: tc.attrs}
		if got := Arch(a); got != tc.want {
			t.Errorf("%s: Arch = %q, want %q", tc.name, got, tc.want)
		}
		if got := Labels("c", a)[corev1.LabelArchStable]; got != tc.want {
			t.Errorf("%s: label %s = %q, want %q", tc.name, corev1.LabelArchStable, got, tc.want)
		}
		if got := Status(a, true, metav1.Now(), nil).NodeInfo.Architecture; got != tc.want {
			t.Errorf("%s: nodeInfo.architecture = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestLabels(t *testing.T) {
	a := Agent{Hostname: "agent-1", Attributes: []mesos.Attribute{
		text("rack", "r1"),
		{Name: "cores", Type: mesos.SCALAR, Scalar: &mesos.Value_Scalar{Value: 8}},
		text("bad value", "has spaces"),
		{Name: "ports", Type: mesos.RANGES, Ranges: &mesos.Value_Ranges{}},
	}}
	got := Labels("local", a)
	want := map[string]string{
		LabelCluster:                          "local",
		corev1.LabelHostname:                  "agent-1",
		corev1.LabelOSStable:                  "linux",
		corev1.LabelArchStable:                DefaultArch,
		"node-role.kubernetes.io/mesos-agent": "",
		LabelAttributePrefix + "rack":         "r1",
		LabelAttributePrefix + "cores":        "8",
	}
	if len(got) != len(want) {
		t.Fatalf("Labels = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("label %s = %q, want %q", k, got[k], v)
		}
	}
}

// An agent's fault domain labels its Node with the region and zone, as cloud providers
// label theirs; a name that is no label value labels nothing.
func TestFaultDomainLabels(t *testing.T) {
	domain := func(region, zone string) *mesos.DomainInfo {
		return &mesos.DomainInfo{FaultDomain: &mesos.DomainInfo_FaultDomain{
			Region: mesos.DomainInfo_FaultDomain_RegionInfo{Name: region}, Zone: mesos.DomainInfo_FaultDomain_ZoneInfo{Name: zone}}}
	}
	for _, tc := range []struct {
		name         string
		domain       *mesos.DomainInfo
		region, zone string
	}{
		{"none", nil, "", ""},
		{"no fault domain", &mesos.DomainInfo{}, "", ""},
		{"region and zone", domain("eu-1", "eu-1a"), "eu-1", "eu-1a"},
		{"a zone that is no label value", domain("eu-1", "zone a"), "eu-1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			region, zone := FaultDomain(tc.domain)
			l := Labels("c", Agent{Hostname: "agent-1", Region: region, Zone: zone})
			if l[corev1.LabelTopologyRegion] != tc.region || l[corev1.LabelTopologyZone] != tc.zone {
				t.Errorf("region, zone labels = %q, %q, want %q, %q", l[corev1.LabelTopologyRegion], l[corev1.LabelTopologyZone], tc.region, tc.zone)
			}
			if _, ok := l[corev1.LabelTopologyZone]; ok != (tc.zone != "") {
				t.Errorf("zone label present %v, want %v", ok, tc.zone != "")
			}
		})
	}
}

// Unlabeled names each part of an agent its Node has no label for, and nothing else.
func TestUnlabeled(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    Agent
		want []string
	}{
		{"all labelled", Agent{Hostname: "agent-1", Region: "eu-1", Zone: "eu-1a", Attributes: []mesos.Attribute{text("rack", "r1")}}, nil},
		{"no fault domain", Agent{Hostname: "agent-1"}, nil},
		{"ranges and sets are no labels, and not told", Agent{Hostname: "agent-1", Attributes: []mesos.Attribute{
			{Name: "ports", Type: mesos.RANGES, Ranges: &mesos.Value_Ranges{}}}}, nil},
		{"an attribute value", Agent{Hostname: "agent-1", Attributes: []mesos.Attribute{text("rack", "row 1"), text("os", "centos")}},
			[]string{`attribute rack="row 1"`}},
		{"an attribute name", Agent{Hostname: "agent-1", Attributes: []mesos.Attribute{text("bad name", "x")}},
			[]string{`attribute bad name="x"`}},
		{"hostname", Agent{Hostname: strings.Repeat("h", 64) + ".example.com"},
			[]string{`hostname "` + strings.Repeat("h", 64) + `.example.com"`}},
		{"region and zone", Agent{Hostname: "agent-1", Region: "eu 1", Zone: "eu 1/a"}, []string{`region "eu 1"`, `zone "eu 1/a"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Unlabeled(tc.a); !slices.Equal(got, tc.want) {
				t.Errorf("Unlabeled = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCapacity(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  []mesos.Resource
		want map[corev1.ResourceName]string
	}{
		{"scalars", []mesos.Resource{scalar("cpus", 4), scalar("mem", 8192), scalar("disk", 20000)},
			map[corev1.ResourceName]string{corev1.ResourceCPU: "4", corev1.ResourceMemory: "8Gi", corev1.ResourceEphemeralStorage: "20000Mi", corev1.ResourcePods: "1M"}},
		{"fractional cpus and gpus", []mesos.Resource{scalar("cpus", 0.5), scalar("gpus", 2)},
			map[corev1.ResourceName]string{corev1.ResourceCPU: "500m", ResourceGPU: "2"}},
		{"resources split by role add up", []mesos.Resource{scalar("cpus", 1), scalar("cpus", 2)},
			map[corev1.ResourceName]string{corev1.ResourceCPU: "3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Capacity(tc.res)
			for k, v := range tc.want {
				q, ok := got[k]
				if !ok || q.Cmp(resource.MustParse(v)) != 0 {
					t.Errorf("%s = %v, want %s", k, q.String(), v)
				}
			}
			if _, ok := got[ResourceGPU]; ok != (tc.want[ResourceGPU] != "") {
				t.Errorf("gpus present = %v", ok)
			}
		})
	}
}

func TestDesiredAndStatus(t *testing.T) {
	a := Agent{ID: "M-S1", Hostname: "agent-1", Resources: []mesos.Resource{scalar("cpus", 2)}, Allocatable: []mesos.Resource{scalar("cpus", 2)}}
	n := Desired("local", a)
	if n.Name != "mesos-local-agent-1" || n.Annotations[AnnotationAgentID] != "M-S1" || n.Spec.ProviderID != "mesos://local/agent-1" {
		t.Fatalf("Desired = %+v", n.ObjectMeta)
	}
	if len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Effect != corev1.TaintEffectNoSchedule || n.Spec.Taints[0].Key != TaintAgent {
		t.Fatalf("taints = %v", n.Spec.Taints)
	}

	t0 := metav1.Unix(100, 0)
	t1 := metav1.Unix(200, 0)
	ready := Status(a, true, t0, nil)
	if c := ready.Conditions[0]; c.Status != corev1.ConditionTrue || c.Reason != ReasonAgentReady {
		t.Fatalf("ready condition = %+v", c)
	}
	again := Status(a, true, t1, ready.Conditions)
	if c := again.Conditions[0]; !c.LastTransitionTime.Equal(&t0) || !c.LastHeartbeatTime.Equal(&t1) {
		t.Fatalf("a heartbeat must keep the transition time: %+v", c)
	}
	gone := Status(a, false, t1, ready.Conditions)
	if c := gone.Conditions[0]; c.Status != corev1.ConditionUnknown || c.Reason != ReasonAgentGone || !c.LastTransitionTime.Equal(&t1) {
		t.Fatalf("gone condition = %+v", c)
	}
	if q := ready.Allocatable[corev1.ResourceCPU]; q.Cmp(resource.MustParse("2")) != 0 {
		t.Fatalf("allocatable cpu = %s", q.String())
	}
}

// A Node's capacity is its agent's whole resources, its allocatable what the framework's
// roles may be offered of them (another role's reservations are not), as a kubelet's
// allocatable leaves out what pods can never have. Placement counts no pods: the figure
// must not read as a limit, as the kubelet's default of 110 does.
func TestAllocatableIsWhatTheFrameworkMayBeOffered(t *testing.T) {
	a := Agent{ID: "a1", Hostname: "h1", Resources: []mesos.Resource{scalar("cpus", 32), scalar("mem", 4096)},
		Allocatable: []mesos.Resource{scalar("cpus", 4), scalar("mem", 4096)}}
	st := Status(a, true, metav1.Now(), nil)
	for _, tc := range []struct {
		name string
		list corev1.ResourceList
		cpu  string
	}{{"capacity", st.Capacity, "32"}, {"allocatable", st.Allocatable, "4"}} {
		if q := tc.list[corev1.ResourceCPU]; q.Cmp(resource.MustParse(tc.cpu)) != 0 {
			t.Errorf("%s cpu = %s, want %s", tc.name, q.String(), tc.cpu)
		}
		if q := tc.list[corev1.ResourcePods]; q.Value() != MaxPods {
			t.Errorf("%s pods = %s, want %d", tc.name, q.String(), MaxPods)
		}
	}
}

// Mesos offers GPUs only to a framework with the GPU_RESOURCES capability, and masters
// by default (--filter_gpu_resources) offer such a framework nothing at all of an agent
// that has GPUs. The Node of a GPU agent of a cluster without the capability has its
// GPUs in its capacity but none allocatable, and, until the agent offers (which shows
// the master does not filter), a Ready condition that says Mesos offers nothing of it
// and names the capability, not that the agent offers resources.
func TestAGPUAgentOfAClusterWithoutGPUResources(t *testing.T) {
	res := []mesos.Resource{scalar("cpus", 4), scalar("gpus", 2)}
	for _, tc := range []struct {
		name             string
		noCap, offered   bool
		gpus             []mesos.Resource
		wantGPUs         int64
		wantNeedsGPUsCap bool
	}{
		{name: "without the capability, never offered", noCap: true, gpus: res, wantGPUs: 0, wantNeedsGPUsCap: true},
		{name: "without the capability, offered", noCap: true, offered: true, gpus: res, wantGPUs: 0},
		{name: "with the capability", gpus: res, wantGPUs: 2},
		{name: "without the capability, no GPUs", noCap: true, gpus: []mesos.Resource{scalar("cpus", 4)}, wantGPUs: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Agent{ID: "a1", Hostname: "h1", Resources: tc.gpus, Allocatable: tc.gpus, WithoutGPUCapability: tc.noCap, Offered: tc.offered}
			st := Status(a, true, metav1.Now(), nil)
			q, ok := st.Allocatable[ResourceGPU]
			switch {
			case tc.wantGPUs < 0 && ok:
				t.Errorf("allocatable %s = %s on an agent without GPUs", ResourceGPU, q.String())
			case tc.wantGPUs >= 0 && (!ok || q.Value() != tc.wantGPUs):
				t.Errorf("allocatable %s = %s (listed %v), want %d listed", ResourceGPU, q.String(), ok, tc.wantGPUs)
			}
			if c, ok := st.Capacity[ResourceGPU]; tc.wantGPUs >= 0 && (!ok || c.Value() != 2) {
				t.Errorf("capacity %s = %s, want the agent's 2", ResourceGPU, c.String())
			}
			ready := st.Conditions[0]
			if ready.Type != corev1.NodeReady || ready.Status != corev1.ConditionTrue {
				t.Fatalf("Ready = %+v, want True: the agent is registered", ready)
			}
			needs := ready.Reason == ReasonAgentNeedsGPUResources && strings.Contains(ready.Message, "GPU_RESOURCES") &&
				!strings.Contains(ready.Message, "offers resources")
			if needs != tc.wantNeedsGPUsCap {
				t.Errorf("Ready reason %s, message %q; want one naming GPU_RESOURCES: %v", ready.Reason, ready.Message, tc.wantNeedsGPUsCap)
			}
		})
	}
}

// Through an outage of the master a Ready Node stays Ready, its heartbeat renewed, and
// says since when the master is unreachable, until the framework's failover timeout.
func TestOutage(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ready := Status(Agent{ID: "a1", Hostname: "h1"}, true, t0, nil)
	node := func(st corev1.NodeStatus) *corev1.Node { return &corev1.Node{Status: st} }

	began := metav1.NewTime(t0.Add(50 * time.Second))
	later := metav1.NewTime(t0.Add(time.Minute))
	st, ok := Outage(node(ready), later, began, time.Hour)
	if !ok {
		t.Fatal("a Ready Node is given up at the start of an outage")
	}
	r, m := findNodeCondition(st, corev1.NodeReady), findNodeCondition(st, ConditionMasterReachable)
	if r.Status != corev1.ConditionTrue || !r.LastHeartbeatTime.Equal(&later) || !r.LastTransitionTime.Equal(&t0) {
		t.Fatalf("Ready = %+v, want True with the heartbeat renewed and the transition kept", r)
	}
	if m.Status != corev1.ConditionFalse || m.Reason != ReasonMasterUnreachable || !m.LastTransitionTime.Equal(&began) {
		t.Fatalf("MesosMasterReachable = %+v, want False since the outage began", m)
	}

	evenLater := metav1.NewTime(later.Add(30 * time.Minute))
	st2, ok := Outage(node(st), evenLater, evenLater, time.Hour)
	if m2 := findNodeCondition(st2, ConditionMasterReachable); !ok || !m2.LastTransitionTime.Equal(&began) {
		t.Fatalf("the outage's start moved: %+v", m2)
	}
	if _, ok := Outage(node(st), metav1.NewTime(began.Add(time.Hour)), evenLater, time.Hour); ok {
		t.Fatal("a Node is kept Ready past the failover timeout, when Mesos has killed the framework's tasks")
	}
	gone := Status(Agent{ID: "a1", Hostname: "h1"}, false, t0, nil)
	if _, ok := Outage(node(gone), later, began, time.Hour); ok {
		t.Fatal("a Node that was not Ready is made Ready by an outage")
	}
}

func findNodeCondition(st corev1.NodeStatus, t corev1.NodeConditionType) corev1.NodeCondition {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c
		}
	}
	return corev1.NodeCondition{}
}

// The Node advertises the kubelet API's port only while an executor on the agent says
// it serves it: whatever holds the port on an agent where no executor serves it (none
// runs there yet, or another process took the port) is sent nothing there by the API
// server and metrics-server, neither their credentials nor the Node's pods' streams. While the
// manager has not heard from the agent's executors since it subscribed, the Node keeps
// what it advertised, so that a manager's restart does not take every Node's port away
// for the minutes until the executors' next Hellos; a port it advertised that is not
// the cluster's any more is dropped at once.
func TestStatusAdvertisesThePortOnlyWhileServed(t *testing.T) {
	for _, tc := range []struct {
		name string
		k    KubeletAPI
		want int32
	}{
		{"served", KubeletAPI{Port: 10350, Served: true, Advertised: 0}, 10350},
		{"no executor said it serves (none runs there, or not yet bound)", KubeletAPI{Port: 10350, Advertised: 10350}, 0},
		{"the executor said the port is taken", KubeletAPI{Port: 10350, Served: false}, 0},
		{"not heard from yet, the Node advertising the port", KubeletAPI{Port: 10350, Unknown: true, Advertised: 10350}, 10350},
		{"not heard from yet, the Node advertising none", KubeletAPI{Port: 10350, Unknown: true}, 0},
		{"not heard from yet, the Node advertising the old port", KubeletAPI{Port: 10350, Unknown: true, Advertised: 10400}, 0},
		{"serving off", KubeletAPI{Port: 0, Served: true, Advertised: 10350}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := Status(Agent{ID: "a1", Hostname: "agent-1", IP: "10.0.0.7", KubeletAPI: tc.k}, true, metav1.Unix(100, 0), nil)
			if got := st.DaemonEndpoints.KubeletEndpoint.Port; got != tc.want {
				t.Errorf("kubelet endpoint port = %d, want %d", got, tc.want)
			}
		})
	}
}

// The Node advertises the kubelet API's port, which the API server dials on the Node's
// addresses: those stay the agent's, where the executor serves it.
func TestStatusAdvertisesTheKubeletAPI(t *testing.T) {
	served := KubeletAPI{Port: 10350, Served: true}
	for _, tc := range []struct {
		name      string
		a         Agent
		want      int32
		addresses []corev1.NodeAddress
	}{
		{"the cluster's port", Agent{ID: "a1", Hostname: "agent-1", KubeletAPI: served}, 10350,
			[]corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "agent-1"}}},
		{"another port, on an agent sharing its host", Agent{ID: "a2", Hostname: "127.0.0.1", Port: 5052, KubeletAPI: KubeletAPI{Port: 10400, Served: true}}, 10400,
			[]corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "127.0.0.1"}}},
		{"no port when the executors serve none", Agent{ID: "a1", Hostname: "agent-1"}, 0,
			[]corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "agent-1"}}},
		// As a kubelet lists them: InternalIP first, which API servers configured as
		// kubeadm configures them (--kubelet-preferred-address-types=InternalIP,…) dial.
		{"the agent's IP, when Mesos says it", Agent{ID: "a1", Hostname: "agent-1", IP: "10.0.0.7", KubeletAPI: served}, 10350,
			[]corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.7"}, {Type: corev1.NodeHostName, Address: "agent-1"}}},
		{"an IPv6 address", Agent{ID: "a1", Hostname: "agent-1", IP: "fd00::7"}, 0,
			[]corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "fd00::7"}, {Type: corev1.NodeHostName, Address: "agent-1"}}},
		{"no IP from what is not one", Agent{ID: "a1", Hostname: "agent-1", IP: "agent-1.example"}, 0,
			[]corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "agent-1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := Status(tc.a, true, metav1.Unix(100, 0), nil)
			if got := st.DaemonEndpoints.KubeletEndpoint.Port; got != tc.want {
				t.Errorf("kubelet endpoint port = %d, want %d", got, tc.want)
			}
			if !equality.Semantic.DeepEqual(st.Addresses, tc.addresses) {
				t.Errorf("addresses = %v, want the agent's %v", st.Addresses, tc.addresses)
			}
		})
	}
}

// A Node's providerID names its agent as its name does, by host and port: never by the
// agent id, which a restarted agent need not keep, while the API server keeps a Node's
// providerID as first set.
func TestProviderID(t *testing.T) {
	for _, tc := range []struct {
		hostname string
		port     int32
		want     string
	}{
		{"agent-1", 0, "mesos://c/agent-1"},
		{"agent-1", DefaultAgentPort, "mesos://c/agent-1"},
		{"127.0.0.1", 5052, "mesos://c/127.0.0.1:5052"},
	} {
		if got := ProviderID("c", tc.hostname, tc.port); got != tc.want {
			t.Errorf("ProviderID(c, %s, %d) = %s, want %s", tc.hostname, tc.port, got, tc.want)
		}
		a := Agent{ID: "S1", Hostname: tc.hostname, Port: tc.port}
		if got := Desired("c", a).Spec.ProviderID; got != tc.want {
			t.Errorf("the Node of %s:%d has providerID %s, want %s", tc.hostname, tc.port, got, tc.want)
		}
	}
}

// A Node is an agent's when labelled for its cluster, or owned by a MesosCluster (made by
// k8sm, its label since removed); any other, whatever its name, is a kubelet's.
func TestClusterOfNode(t *testing.T) {
	owned := func(apiVersion, kind string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: "c", UID: "u1"}}
	}
	for _, tc := range []struct {
		name string
		node corev1.Node
		want string
	}{
		{"labelled", corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{LabelCluster: "c"}}}, "c"},
		{"labelled, owned by another", corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{LabelCluster: "d"},
			OwnerReferences: owned("mesos.k8sm.io/v1alpha1", "MesosCluster")}}, "d"},
		{"owned, its label removed", corev1.Node{ObjectMeta: metav1.ObjectMeta{OwnerReferences: owned("mesos.k8sm.io/v1alpha1", "MesosCluster")}}, "c"},
		{"owned by something else", corev1.Node{ObjectMeta: metav1.ObjectMeta{OwnerReferences: owned("example.com/v1", "MesosCluster")}}, ""},
		{"a kubelet's", corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{corev1.LabelHostname: "mesos-agent-17"}}}, ""},
	} {
		if got := ClusterOfNode(&tc.node); got != tc.want {
			t.Errorf("%s: ClusterOfNode = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestRemote(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		region, masterRegion string
		want                 bool
	}{
		{"the master's region", "eu-1", "eu-1", false},
		{"another region", "us-1", "eu-1", true},
		{"an agent without a region", "", "eu-1", false},
		{"a master without a region", "us-1", "", false},
		{"neither has a region", "", "", false},
	} {
		if got := Remote(tc.region, tc.masterRegion); got != tc.want {
			t.Errorf("%s: Remote(%q, %q) = %v, want %v", tc.name, tc.region, tc.masterRegion, got, tc.want)
		}
	}
}
