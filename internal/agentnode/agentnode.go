// Package agentnode translates a Mesos agent into the Kubernetes Node that stands for
// it: name, labels from attributes, capacity from resources, the taint that keeps
// kube-scheduler away, and the Ready condition. It is pure: no Kubernetes client.
package agentnode

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
)

const (
	// LabelCluster names the MesosCluster an agent Node belongs to.
	LabelCluster = "mesos.k8sm.io/cluster"
	// LabelAttributePrefix prefixes labels made from agent attributes.
	LabelAttributePrefix = "mesos.k8sm.io/attribute."
	// AnnotationAgentID holds the Mesos agent id of a Node.
	AnnotationAgentID = "mesos.k8sm.io/agent-id"
	// TaintAgent keeps kube-scheduler's pods off agent Nodes; only the cluster's own
	// schedulerName places pods there.
	TaintAgent = "mesos.k8sm.io/agent"
	// ResourceGPU is the Kubernetes name of Mesos's gpus resource.
	ResourceGPU corev1.ResourceName = "nvidia.com/gpu"

	// ReasonAgentReady and ReasonAgentGone are the Node Ready condition reasons.
	ReasonAgentReady = "MesosAgentReady"
	ReasonAgentGone  = "MesosAgentGone"
	// ReasonAgentNeedsGPUResources is the Ready reason of an agent with GPUs that Mesos
	// offers nothing of to a framework without GPU_RESOURCES (Agent.WithoutGPUCapability).
	ReasonAgentNeedsGPUResources = "MesosAgentNeedsGPUResources"

	// ConditionMasterReachable says whether the framework reaches the Mesos master. While
	// it cannot, the Node stays Ready (see Outage).
	ConditionMasterReachable corev1.NodeConditionType = "MesosMasterReachable"
	// ReasonMasterReachable and ReasonMasterUnreachable are its reasons.
	ReasonMasterReachable   = "MesosMasterReachable"
	ReasonMasterUnreachable = "MesosMasterUnreachable"
)

// Agent is what the Node of one agent is made from.
type Agent struct {
	ID       string
	Hostname string
	// Port is the port the agent serves on (AgentInfo.port, the port of an offer's
	// url); 0 when not known, taken as DefaultAgentPort.
	Port int32
	// IP is the agent's address as Mesos gives it (an offer's url.ip); the Node's
	// InternalIP. Empty (or not an IP): the Node has its hostname only.
	IP         string
	Attributes []mesos.Attribute
	// Region and Zone are the agent's fault domain (FaultDomain), empty when it has none.
	Region, Zone string
	// Resources are the agent's whole resources, the Node's capacity
	// (framework.Agent.Capacity).
	Resources []mesos.Resource
	// Allocatable are those the framework's roles may be offered, the Node's allocatable
	// (framework.Agent.Allocatable).
	Allocatable []mesos.Resource
	// KubeletAPI is what its Node advertises of the kubelet API the executors serve.
	KubeletAPI KubeletAPI
	// WithoutGPUCapability: the cluster's framework does not ask Mesos for GPU_RESOURCES.
	// Mesos offers GPUs only to frameworks that do, and masters by default
	// (--filter_gpu_resources) offer the others nothing at all of an agent with GPUs: the
	// Node allocates no GPU, and, until the agent offers (Offered), its Ready condition
	// says Mesos offers nothing of it.
	WithoutGPUCapability bool
	// Offered: the agent offered the framework resources since the cluster's driver
	// started (framework.Agent.LastOffer), or Mesos reports the framework's tasks or
	// executors on it (framework.Status.Reported: it offered them once, a full agent
	// offers nothing more); the master then does not filter it.
	Offered bool
	// Unavailability is the maintenance window Mesos's operator scheduled for the
	// agent's machine; nil when none.
	Unavailability *Unavailability
}

// KubeletAPI is the kubelet API an executor serves for an agent's Node, as its Node
// advertises it (status.daemonEndpoints), and what that is made of.
type KubeletAPI struct {
	// Port is the port the executors serve the kubelet API on, on the agent's addresses
	// (the MesosCluster's spec.kubeletAPI); 0 when they serve none.
	Port int32
	// Served says an executor on the agent said lately (its Hellos) that it serves Port.
	Served bool
	// Unknown says no executor on the agent has said Hello since the manager subscribed,
	// lately: one that runs there says Hello within minutes. Meanwhile the Node keeps
	// advertising what it did, Advertised.
	Unknown bool
	// Advertised is the port the Node advertises now.
	Advertised int32
}

// AdvertisedPort is the port the Node advertises: Port while an executor on the agent
// says it serves it, else none (0), as a kubelet advertises only the port it serves.
// Whatever else holds Port on the agent (another framework's task, where no executor
// runs, or before the executor binds it) is then not sent the API server's calls nor
// metrics-server's token. (A client given 0 dials its own default port, 10250: only a
// verified serving certificate keeps a process there from them, docs/security.md.)
// While Unknown, what the Node advertised, if that is still Port.
func (k KubeletAPI) AdvertisedPort() int32 {
	switch {
	case k.Port == 0:
		return 0
	case k.Served, k.Unknown && k.Advertised == k.Port:
		return k.Port
	}
	return 0
}

// NodePrefix begins the name of every agent Node.
const NodePrefix = "mesos-"

// OnAgentNode says whether a pod is bound to a Node named as an agent's. The name alone
// does not make it one (a kubelet's Node may be named mesos-…): which cluster's it is,
// if any, ClusterOfNode says.
func OnAgentNode(p *corev1.Pod) bool {
	return strings.HasPrefix(p.Spec.NodeName, NodePrefix)
}

// clusterGroup and clusterKind are the group and kind of a MesosCluster, the owner of the Nodes k8sm makes.
const (
	clusterGroup = "mesos.k8sm.io"
	clusterKind  = "MesosCluster"
)

// ClusterOfNode names the MesosCluster whose agent a Node stands for: its LabelCluster
// label, else the MesosCluster that owns it (a Node k8sm made, whose label someone
// removed). "" for any other Node: a kubelet's, whatever its name, whose pods are its
// kubelet's and which no cluster may take over.
func ClusterOfNode(n *corev1.Node) string {
	if c := n.Labels[LabelCluster]; c != "" {
		return c
	}
	for _, o := range n.OwnerReferences {
		if gv, err := schema.ParseGroupVersion(o.APIVersion); err == nil && gv.Group == clusterGroup && o.Kind == clusterKind {
			return o.Name
		}
	}
	return ""
}

var invalidName = regexp.MustCompile(`[^a-z0-9.-]+`)

// DefaultAgentPort is the port a Mesos agent serves on unless its --port says
// otherwise (mesos.proto: AgentInfo.port default).
const DefaultAgentPort int32 = 5051

// NodeName is the Node name of an agent: mesos-<cluster>-<hostname>, made a valid DNS
// subdomain, and -<port> after it when the agent does not serve on the default port
// 5051 (port 0 is taken as the default).
//
// The name must outlive the agent id, which a restarted agent does not keep, and be
// the same wherever k8sm meets the agent: in an offer (Offer.hostname and the port of
// Offer.url, master.cpp: Master::offer) and in GET_AGENTS (AgentInfo.hostname and
// .port, which the agent sets from its own address, slave.cpp: Slave::initialize).
// One agent per host, the usual install, keeps the name it always had; agents that
// share a host, and so a hostname (local setups start several with
// --hostname=127.0.0.1), must serve on distinct ports and so get distinct Nodes.
func NodeName(cluster, hostname string, port int32) string {
	suffix := ""
	if port != 0 && port != DefaultAgentPort {
		suffix = "-" + strconv.Itoa(int(port))
	}
	name := invalidName.ReplaceAllString(strings.ToLower(NodePrefix+cluster+"-"+hostname), "-")
	name = strings.Trim(name, "-.")
	if max := validation.DNS1123SubdomainMaxLength - len(suffix); len(name) > max {
		name = strings.Trim(name[:max], "-.")
	}
	return name + suffix
}

// ProviderID is the spec.providerID of an agent's Node: mesos://<cluster>/<hostname>,
// and :<port> after it when the agent does not serve on the default port 5051, the host
// and port the Node's name is made of (NodeName). The API server refuses any change of
// a Node's providerID once set, so it must be as stable as the Node: not the agent id,
// which a restarted agent that lost its work directory does not keep (that one is the
// AnnotationAgentID annotation, which follows the agent).
func ProviderID(cluster, hostname string, port int32) string {
	id := "mesos://" + cluster + "/" + hostname
	if port != 0 && port != DefaultAgentPort {
		id += ":" + strconv.Itoa(int(port))
	}
	return id
}

// OfferPort is the port of the agent an offer comes from (0 if the offer says none).
func OfferPort(o *mesos.Offer) int32 {
	if o.URL == nil {
		return 0
	}
	return o.URL.Address.Port
}

// DefaultArch is an agent's architecture when no attribute says it (Arch).
const DefaultArch = "amd64"

// Arch is an agent's architecture, kubernetes.io/arch of its Node, which a kubelet always
// sets and many charts select on: its text attribute "arch" when that is a valid label
// value (--attributes=arch:arm64), else DefaultArch. Mesos does not say it otherwise;
// the agents of a cluster run one executor binary, so they mostly share it.
func Arch(a Agent) string {
	for _, attr := range a.Attributes {
		if attr.GetName() == "arch" && attr.GetType() == mesos.TEXT {
			if v := attr.GetText().GetValue(); v != "" && len(validation.IsValidLabelValue(v)) == 0 {
				return v
			}
		}
	}
	return DefaultArch
}

// Labels are the labels of an agent's Node: the cluster, kubernetes.io/hostname, the OS,
// the architecture (Arch) and one per text or scalar attribute whose name and value make
// a valid label.
func Labels(cluster string, a Agent) map[string]string {
	l, _ := labels(cluster, a, false)
	return l
}

// Unlabeled says what of an agent no label of its Node holds, because Mesos allows names
// and values a label does not: an attribute ("attribute rack=\"row 1\""), the fault
// domain's region or zone, the hostname. Node selectors, affinity and topology keys
// cannot match it. Empty when every part has its label.
func Unlabeled(a Agent) []string {
	_, left := labels("", a, true)
	return left
}

// labels builds Labels, and with tell also what it left out (Unlabeled).
func labels(cluster string, a Agent, tell bool) (map[string]string, []string) {
	var left []string
	leave := func(format string, args ...any) {
		if tell {
			left = append(left, fmt.Sprintf(format, args...))
		}
	}
	l := map[string]string{
		LabelCluster:                          cluster,
		corev1.LabelHostname:                  a.Hostname,
		corev1.LabelOSStable:                  "linux",
		corev1.LabelArchStable:                Arch(a),
		"node-role.kubernetes.io/mesos-agent": "",
	}
	for _, attr := range a.Attributes {
		var v string
		switch attr.GetType() {
		case mesos.TEXT:
			v = attr.GetText().GetValue()
		case mesos.SCALAR:
			v = strconv.FormatFloat(attr.GetScalar().GetValue(), 'f', -1, 64)
		default:
			continue
		}
		key := LabelAttributePrefix + attr.GetName()
		if len(validation.IsQualifiedName(key)) == 0 && len(validation.IsValidLabelValue(v)) == 0 {
			l[key] = v
		} else {
			leave("attribute %s=%q", attr.GetName(), v)
		}
	}
	if len(validation.IsValidLabelValue(a.Hostname)) != 0 {
		delete(l, corev1.LabelHostname)
		leave("hostname %q", a.Hostname)
	}
	// The fault domain, where kube-scheduler's users and charts look for it (topology
	// spread and anti-affinity by zone, zone selectors), as cloud providers label Nodes.
	for _, d := range []struct{ key, what, v string }{{corev1.LabelTopologyRegion, "region", a.Region}, {corev1.LabelTopologyZone, "zone", a.Zone}} {
		switch {
		case d.v == "":
		case len(validation.IsValidLabelValue(d.v)) == 0:
			l[d.key] = d.v
		default:
			leave("%s %q", d.what, d.v)
		}
	}
	return l, left
}

// FaultDomain is the region and zone of an agent's fault domain (AgentInfo.domain, an
// offer's domain), empty when it has none.
func FaultDomain(d *mesos.DomainInfo) (region, zone string) {
	fd := d.GetFaultDomain()
	if fd == nil {
		return "", ""
	}
	return fd.Region.Name, fd.Zone.Name
}

// Remote says whether an agent of region (its fault domain's, or its Node's region label;
// empty when it has none) is in another region than the master's, masterRegion. Mesos
// offers such an agent only to REGION_AWARE frameworks (its allocator's isRemoteSlave),
// and such a framework places there only the pods that select the region. An agent or a
// master without a region makes no agent remote.
func Remote(region, masterRegion string) bool {
	return region != "" && masterRegion != "" && region != masterRegion
}

// MatchLabels are the labels an agent's Node is matched by in placement, as an offer of
// the agent reads: its own, with each attribute label (LabelAttributePrefix) under the
// attribute's own name too, as node selectors and topology keys may name it. labels
// itself when it has no attribute label.
func MatchLabels(labels map[string]string) map[string]string {
	var out map[string]string
	for k, v := range labels {
		name, ok := strings.CutPrefix(k, LabelAttributePrefix)
		if !ok || name == "" {
			continue
		}
		if out == nil {
			out = maps.Clone(labels)
		}
		out[name] = v
	}
	if out == nil {
		return labels
	}
	return out
}

// MaxPods is the pods figure of every agent's Node. Mesos places tasks by resources
// alone and k8sm counts no pods per agent, so there is no limit to report; a kubelet's
// default, 110, would read as one (an agent would show 300/110 pods). This figure is
// high enough that nothing takes it for one.
const MaxPods = 1_000_000

// Capacity adds up an agent's scalar resources as Kubernetes resources, and MaxPods; ports
// become no resource (pods ask for host ports by number).
func Capacity(res []mesos.Resource) corev1.ResourceList {
	var cpus, mem, disk, gpus float64
	for _, r := range res {
		if r.GetType() != mesos.SCALAR {
			continue
		}
		v := r.GetScalar().GetValue()
		switch r.GetName() {
		case "cpus":
			cpus += v
		case "mem":
			mem += v
		case "disk":
			disk += v
		case "gpus":
			gpus += v
		}
	}
	l := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewMilliQuantity(int64(cpus*1000+0.5), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(int64(mem)<<20, resource.BinarySI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(int64(disk)<<20, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(MaxPods, resource.DecimalSI),
	}
	if gpus > 0 {
		l[ResourceGPU] = *resource.NewQuantity(int64(gpus), resource.DecimalSI)
	}
	return l
}

// Taint is the NoSchedule taint on every agent Node.
func Taint(cluster string) corev1.Taint {
	return corev1.Taint{Key: TaintAgent, Value: cluster, Effect: corev1.TaintEffectNoSchedule}
}

// Desired returns the Node an agent should have (metadata and spec; status via Status).
func Desired(cluster string, a Agent) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName(cluster, a.Hostname, a.Port),
			Labels:      Labels(cluster, a),
			Annotations: map[string]string{AnnotationAgentID: a.ID},
		},
		Spec: corev1.NodeSpec{
			ProviderID: ProviderID(cluster, a.Hostname, a.Port),
			Taints:     taints(cluster, a),
		},
	}
}

// taints are the taints of an agent's Node: the cluster's (first), and the maintenance
// taint while its machine is scheduled for maintenance.
func taints(cluster string, a Agent) []corev1.Taint {
	if a.Unavailability != nil {
		return []corev1.Taint{Taint(cluster), MaintenanceTaint()}
	}
	return []corev1.Taint{Taint(cluster)}
}

// Status returns the Node status of an agent: capacity (the agent's whole resources),
// allocatable (what the framework's roles may be offered of them), addresses, the Ready
// condition (True while the agent is known to the framework, else Unknown), and the
// kubelet API's port while an executor serves it (KubeletAPI.AdvertisedPort), which the API server
// dials on the Node's addresses (the agent's: the executor serves it there) for
// `kubectl logs`, `exec` and the rest.
func Status(a Agent, ready bool, now metav1.Time, previous []corev1.NodeCondition) corev1.NodeStatus {
	capacity := Capacity(a.Resources)
	cond := corev1.NodeCondition{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: ReasonAgentReady,
		Message: "The Mesos agent offers resources to the framework", LastHeartbeatTime: now, LastTransitionTime: now,
	}
	if offersFiltered(a) {
		cond.Reason, cond.Message = ReasonAgentNeedsGPUResources, "The Mesos agent has GPUs, and masters offer nothing of such an agent to a framework "+
			"without the GPU_RESOURCES capability (--filter_gpu_resources, on by default): it has offered nothing to this one. "+
			"Add GPU_RESOURCES to the MesosCluster's spec.framework.capabilities to run pods here"
	}
	if !ready {
		cond.Status, cond.Reason, cond.Message = corev1.ConditionUnknown, ReasonAgentGone,
			"The Mesos agent left the cluster, or the framework lost its connection to the master"
	}
	keepTransition(&cond, previous)
	st := corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: allocatable(a, capacity),
		Conditions:  []corev1.NodeCondition{cond, ReachableCondition(now, previous)},
		Addresses:   Addresses(a),
		NodeInfo:    corev1.NodeSystemInfo{OperatingSystem: "linux", Architecture: Arch(a), KubeletVersion: "mesos"},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{
			KubeletEndpoint: corev1.DaemonEndpoint{Port: a.KubeletAPI.AdvertisedPort()},
		},
	}
	if m := MaintenanceCondition(a, now, previous); m != nil {
		st.Conditions = append(st.Conditions, *m)
	}
	return st
}

// allocatable is the Node's allocatable: what the framework's roles may be offered of the
// agent (Agent.Allocatable), no GPU for a framework without GPU_RESOURCES. A GPU of the
// agent's that the Node cannot allocate is listed as 0, as a kubelet lists a device it
// cannot give, rather than left out.
func allocatable(a Agent, capacity corev1.ResourceList) corev1.ResourceList {
	l := Capacity(a.Allocatable)
	if a.WithoutGPUCapability {
		delete(l, ResourceGPU)
	}
	if _, has := capacity[ResourceGPU]; has {
		if _, ok := l[ResourceGPU]; !ok {
			l[ResourceGPU] = *resource.NewQuantity(0, resource.DecimalSI)
		}
	}
	return l
}

// offersFiltered says whether Mesos is taken to offer the framework nothing of the agent:
// it has GPUs, the framework lacks GPU_RESOURCES, and it has not offered (one offer shows
// the master does not filter such agents, --filter_gpu_resources=false).
func offersFiltered(a Agent) bool {
	if !a.WithoutGPUCapability || a.Offered {
		return false
	}
	_, gpus := Capacity(a.Resources)[ResourceGPU]
	return gpus
}

// ReachableCondition is the MesosMasterReachable condition of an agent's Node while the
// framework is subscribed: True, its transition time kept from previous while it stays
// True.
func ReachableCondition(now metav1.Time, previous []corev1.NodeCondition) corev1.NodeCondition {
	c := corev1.NodeCondition{Type: ConditionMasterReachable, Status: corev1.ConditionTrue, Reason: ReasonMasterReachable,
		Message: "The framework is subscribed to the Mesos master", LastHeartbeatTime: now, LastTransitionTime: now}
	keepTransition(&c, previous)
	return c
}

// ReportedCondition is the Ready condition of an agent's Node while Mesos shows the agent
// registered otherwise than by an offer or the master's list of agents (its executors'
// messages, its tasks' updates), where the master does not list its agents to the
// framework: True, its transition time kept from previous while it stays True.
func ReportedCondition(now metav1.Time, previous []corev1.NodeCondition) corev1.NodeCondition {
	c := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: ReasonAgentReady,
		Message:           "Mesos reports the agent registered (its executors' messages or its tasks' updates); the master does not list its agents to the framework",
		LastHeartbeatTime: now, LastTransitionTime: now}
	keepTransition(&c, previous)
	return c
}

// Addresses are the Node's addresses: the agent's IP as InternalIP, when Mesos gave one,
// and its hostname, in the order a kubelet lists them. The API server dials the first of
// them whose type its --kubelet-preferred-address-types names first.
func Addresses(a Agent) []corev1.NodeAddress {
	out := make([]corev1.NodeAddress, 0, 2)
	if ip := net.ParseIP(a.IP); ip != nil {
		out = append(out, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip.String()})
	}
	return append(out, corev1.NodeAddress{Type: corev1.NodeHostName, Address: a.Hostname})
}

// ReadyCondition is a Node's Ready condition, nil when it has none.
func ReadyCondition(n *corev1.Node) *corev1.NodeCondition {
	return Condition(n, corev1.NodeReady)
}

// Condition is a Node's condition of a type, nil when it has none.
func Condition(n *corev1.Node, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == t {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// keepTransition keeps a condition's transition time from the previous conditions when
// its status stays.
func keepTransition(c *corev1.NodeCondition, previous []corev1.NodeCondition) {
	for _, p := range previous {
		if p.Type == c.Type && p.Status == c.Status {
			c.LastTransitionTime = p.LastTransitionTime
		}
	}
}

// Outage is the status of an agent's Node while the framework cannot reach the Mesos
// master (the master is down, or this manager restarted and has not subscribed yet):
// the Node stays Ready, heartbeat renewed, and MesosMasterReachable turns False.
//
// Through a master outage Mesos agents keep their tasks running, and the master keeps a
// framework's tasks until its failover timeout. Were the Node to go NotReady, the node
// lifecycle controller would taint it node.kubernetes.io/unreachable:NoExecute and evict
// every pod whose toleration ran out, and the tasks of the evicted pods would be killed
// when the master came back: the outage of one component would become the loss of
// every pod on Mesos. So the Node reports what Kubernetes acts on (Ready: its pods run)
// and says, in its own condition, what it cannot see, since the outage began (since). ok
// is false once the outage has lasted limit (the framework's failover timeout: Mesos has
// then removed the framework and killed its tasks), or when the Node was not Ready when
// it began.
func Outage(n *corev1.Node, now, since metav1.Time, limit time.Duration) (st corev1.NodeStatus, ok bool) {
	ready := ReadyCondition(n)
	if ready == nil || ready.Status != corev1.ConditionTrue {
		return corev1.NodeStatus{}, false
	}
	st = *n.Status.DeepCopy()
	reachable := corev1.NodeCondition{Type: ConditionMasterReachable, Status: corev1.ConditionFalse, Reason: ReasonMasterUnreachable,
		LastHeartbeatTime: now, LastTransitionTime: since}
	keepTransition(&reachable, n.Status.Conditions)
	if now.Sub(reachable.LastTransitionTime.Time) >= limit {
		return corev1.NodeStatus{}, false
	}
	reachable.Message = "The framework cannot reach the Mesos master since " + reachable.LastTransitionTime.UTC().Format(time.RFC3339) +
		"; Mesos keeps the agent's tasks running, so the Node stays Ready until the framework's failover timeout"
	replaced := false
	for i := range st.Conditions {
		switch st.Conditions[i].Type {
		case corev1.NodeReady:
			st.Conditions[i].LastHeartbeatTime = now
		case ConditionMasterReachable:
			st.Conditions[i], replaced = reachable, true
		}
	}
	if !replaced {
		st.Conditions = append(st.Conditions, reachable)
	}
	return st, true
}
