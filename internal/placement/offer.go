package placement

import (
	"slices"
	"strconv"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sm/k8sm/internal/agentnode"
)

// The scalar resources placement counts, indexed like their reasons.
const (
	kindCPUs = iota
	kindMem
	kindDisk
	kindGPUs
	kindCount
)

var kindName = [kindCount]string{"cpus", "mem", "disk", "gpus"}

// amount is how much of a scalar kind a request needs, as Mesos counts it once the
// request went through roundToMesos, as every request of a round does (Place, Preempt).
func (r *Request) amount(k int) float64 {
	switch k {
	case kindCPUs:
		return r.CPUs
	case kindMem:
		return r.MemMB
	case kindDisk:
		return r.DiskMB
	default:
		return r.GPUs
	}
}

// roundToMesos keeps the request's scalars in thousandths (round3), as the task's
// resources say them and Mesos holds them against the offer (Value::Scalar is
// fixed-point). A round that counted the amounts as asked would place tasks whose
// resources, rounded up, add up to more than offered (TASK_ERROR), and keep a task from
// room that holds it rounded down. Rounding again changes nothing; it is done once per
// round rather than at each of the round's fits (which cost the round of 10,000 pods
// over 1,000 offers 45% more).
func (r *Request) roundToMesos() {
	r.CPUs, r.MemMB, r.DiskMB, r.GPUs = round3(r.CPUs), round3(r.MemMB), round3(r.DiskMB), round3(r.GPUs)
}

// rounded is a copy of the request, roundToMesos.
func (r Request) rounded() *Request {
	r.roundToMesos()
	return &r
}

// epsilon absorbs float drift; Mesos itself keeps scalars to three decimals.
const epsilon = 1e-6

// bucket is one scalar resource of an offer with what is left of it.
type bucket struct {
	res  *mesos.Resource
	role string
	left float64
}

// portRange is one offered ports range.
type portRange struct {
	res        *mesos.Resource
	role       string
	begin, end uint64
}

// agentState is what a round knows about one agent, shared by its offers.
type agentState struct {
	index int
	node  *corev1.Node
	// needExecutor: the executor neither runs there nor was placed there this round.
	needExecutor bool
	// execRes are the executor's resources once known (placed, or described from an
	// offer when it already runs).
	execRes []mesos.Resource
	// execRole is the role of the offer the executor is started from this round, "" when
	// it is not: the agent's offers of other roles go into ACCEPTs of their own, which
	// could reach Mesos before the one that starts the executor.
	execRole  string
	usedPorts map[uint64]struct{}
	// unschedulable and taints are the agent's Node's (Input.NodeSpec): cordoned, and
	// the NoSchedule and NoExecute taints but the cluster's own.
	unschedulable bool
	taints        []corev1.Taint
	// preferNot are its Node's PreferNoSchedule taints: a pod goes to an agent with
	// fewer of them untolerated first (preferenceOf).
	preferNot []corev1.Taint
	// otherCluster: the Node of the agent's name is not the cluster's: another
	// MesosCluster's, or a kubelet's.
	otherCluster bool
	// remote: the agent is of another region than the master's (Input.MasterRegion).
	remote bool
	// states are the round's states of the agent's offers, one per allocation role.
	states []roleState
	// nominated are the indexes in Input.Nominated of the pods nominated to its Node,
	// nil when none is.
	nominated []int
}

// AllocationRole is the role an offer is allocated to: that of its allocation info, or
// of its resources' for an offer that names it only there; "" for a framework that is
// not MULTI_ROLE. Offers of one agent and allocation role are placed as one, and go
// into one ACCEPT.
func AllocationRole(o *mesos.Offer) string {
	if a := o.GetAllocationInfo(); a != nil {
		return a.GetRole()
	}
	for i := range o.Resources {
		if a := o.Resources[i].GetAllocationInfo(); a != nil {
			return a.GetRole()
		}
	}
	return ""
}

// roleState is the state of an agent's offers of one allocation role ("" when they have
// none: a framework that is not MULTI_ROLE), by its index in the round's states.
type roleState struct {
	role  string
	index int
}

// stateFor is the index of the agent's state for an allocation role, or -1.
func (a *agentState) stateFor(role string) int {
	for _, s := range a.states {
		if s.role == role {
			return s.index
		}
	}
	return -1
}

// offerState is what is left of one offer during a round.
type offerState struct {
	offer *mesos.Offer
	agent *agentState
	// role is the single role of all the offer's resources, unless mixed.
	role    string
	mixed   bool
	buckets [kindCount][]bucket
	left    [kindCount]float64
	ports   []portRange
	placed  int
	// shared: the buckets are the Cache's, read by every round that has the offer;
	// take copies them before it takes from them.
	shared bool
}

// roleOf is the role a resource is allocated to (MULTI_ROLE offers), else the role it
// is reserved for, else "*".
func roleOf(r *mesos.Resource) string {
	if a := r.GetAllocationInfo(); a != nil && a.Role != nil {
		return *a.Role
	}
	if role := r.ReservationRole(); role != "" {
		return role
	}
	return "*"
}

// usable says whether a task may take a resource as plain cpus, mem, disk, gpus or
// ports: persistent volumes, mounted or path disks, shared and revocable resources are
// left alone. An agent's Node counts the same in its allocatable (framework's plain).
func usable(r *mesos.Resource) bool {
	return r.GetRevocable() == nil && r.GetShared() == nil && r.GetProviderID() == nil &&
		(r.GetDisk() == nil || (r.GetDisk().GetPersistence() == nil && r.GetDisk().GetSource() == nil))
}

// newOfferState sorts an offer's usable resources into buckets per kind and port
// ranges, each with its role, so fits and take need not walk the resources again.
func newOfferState(o *mesos.Offer, agent *agentState) offerState {
	s := offerState{offer: o, agent: agent}
	first := true
	note := func(role string) {
		if first {
			s.role, first = role, false
		} else if role != s.role {
			s.mixed = true
		}
	}
	for i := range o.Resources {
		r := &o.Resources[i]
		if !usable(r) {
			continue
		}
		switch {
		case r.GetType() == mesos.SCALAR:
			k := slices.Index(kindName[:], r.Name)
			if k < 0 {
				continue
			}
			role := roleOf(r)
			note(role)
			v := r.GetScalar().GetValue()
			s.buckets[k] = append(s.buckets[k], bucket{res: r, role: role, left: v})
			s.left[k] += v
		case r.GetType() == mesos.RANGES && r.Name == "ports":
			role := roleOf(r)
			note(role)
			for _, rg := range r.GetRanges().GetRange() {
				s.ports = append(s.ports, portRange{res: r, role: role, begin: rg.Begin, end: rg.End})
			}
		}
	}
	return s
}

// merge adds another offer of the agent and allocation role to the state: its
// resources join the buckets and port ranges of the same kind, role and metadata, so
// that a task may take what it needs of both in one resource, as Mesos adds up the
// offers of an ACCEPT. The state stands for the first offer; the others go into its
// ACCEPT. Rare (an agent offered again what a task freed while an offer of it is
// held), so it copies what it grows.
func (s *offerState) merge(t offerState) {
	s.unshare()
	s.ports = slices.Clip(s.ports)
	switch {
	case !t.hasResources():
	case !s.hasResources():
		s.role, s.mixed = t.role, t.mixed
	case t.mixed || t.role != s.role:
		s.mixed = true
	}
	for k := range t.buckets {
		for _, b := range t.buckets[k] {
			s.left[k] += b.left
			if i := slices.IndexFunc(s.buckets[k], func(x bucket) bool { return x.role == b.role && sameResource(x.res, b.res) }); i >= 0 {
				s.buckets[k][i].left += b.left
				continue
			}
			s.buckets[k] = append(s.buckets[k], b)
		}
	}
	for _, pr := range t.ports {
		if i := slices.IndexFunc(s.ports, func(x portRange) bool { return x.role == pr.role && sameResource(x.res, pr.res) }); i >= 0 {
			pr.res = s.ports[i].res // one resource of the task for ports of both offers
		}
		s.ports = append(s.ports, pr)
	}
}

// unshare gives the state buckets of its own, which the Cache's are not.
func (s *offerState) unshare() {
	if !s.shared {
		return
	}
	for k := range s.buckets {
		s.buckets[k] = slices.Clone(s.buckets[k])
	}
	s.shared = false
}

// hasResources says whether the offer had any usable resource.
func (s *offerState) hasResources() bool {
	if len(s.ports) > 0 {
		return true
	}
	for k := range s.buckets {
		if len(s.buckets[k]) > 0 {
			return true
		}
	}
	return false
}

// sameResource says whether two resources differ only in their amount.
func sameResource(a, b *mesos.Resource) bool {
	x, y := *a, *b
	x.Scalar, y.Scalar, x.Ranges, y.Ranges = nil, nil, nil, nil
	return x.Equal(&y)
}

// agentNode is the Node an agent is matched as: its Node name and labels, plus its
// attributes under their own names.
func agentNode(cluster string, o *mesos.Offer) *corev1.Node {
	region, zone := agentnode.FaultDomain(o.Domain)
	labels := agentnode.Labels(cluster, agentnode.Agent{Hostname: o.Hostname, Attributes: o.Attributes, Region: region, Zone: zone})
	for _, a := range o.Attributes {
		switch a.GetType() {
		case mesos.TEXT:
			labels[a.Name] = a.GetText().GetValue()
		case mesos.SCALAR:
			labels[a.Name] = strconv.FormatFloat(a.GetScalar().GetValue(), 'f', -1, 64)
		}
	}
	labels[corev1.LabelHostname] = o.Hostname
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: agentnode.NodeName(cluster, o.Hostname, agentnode.OfferPort(o)), Labels: labels}}
}

// free is what is left of a scalar kind for a role ("" = any).
func (s *offerState) free(k int, role string) float64 {
	if role == "" || (!s.mixed && role == s.role) {
		return s.left[k]
	}
	if !s.mixed {
		return 0
	}
	var sum float64
	for i := range s.buckets[k] {
		if s.buckets[k][i].role == role {
			sum += s.buckets[k][i].left
		}
	}
	return sum
}

// hasRole says whether the offer has any resource for the role.
func (s *offerState) hasRole(role string) bool {
	if !s.mixed {
		return s.role == role
	}
	for k := range s.buckets {
		for i := range s.buckets[k] {
			if s.buckets[k][i].role == role {
				return true
			}
		}
	}
	for i := range s.ports {
		if s.ports[i].role == role {
			return true
		}
	}
	return false
}

// portRangeOf is the index of the offered range holding port p for the role, or -1.
func (s *offerState) portRangeOf(p uint64, role string) int {
	for i := range s.ports {
		pr := &s.ports[i]
		if p >= pr.begin && p <= pr.end && (role == "" || pr.role == role) {
			return i
		}
	}
	return -1
}
