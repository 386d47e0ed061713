// Package placement matches pending tasks to Mesos offers: resources (cpus, mem, disk,
// gpus, exact host ports), node selectors and required node affinity against the
// agent's attributes and hostname, and roles; several tasks may share an offer, and a
// task that fits nowhere gets an explanation in kube-scheduler's words. It is pure: no
// Kubernetes client.
package placement

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/k8sm/k8sm/internal/agentnode"
)

// Strategy chooses among the offers a task fits.
type Strategy string

const (
	// Spread prefers the offer with the most cpus left.
	Spread Strategy = "spread"
	// Binpack prefers the offer with the fewest cpus left that still fits.
	Binpack Strategy = "binpack"
)

// Request is one task to place.
type Request struct {
	ID                        string
	CPUs, MemMB, DiskMB, GPUs float64
	// HostPorts must each be inside an offered ports range.
	HostPorts []uint32
	// NodeSelector and Affinity are the pod's; they match the agent's Node labels and its
	// attributes by their own names.
	NodeSelector map[string]string
	Affinity     *corev1.Affinity
	// Role the resources must be allocated to; empty means any.
	Role string
	// Hostname pins the task to one agent (its pod is already bound there).
	Hostname string
}

// Input is one placement round.
type Input struct {
	Requests []Request
	Offers   []mesos.Offer
	Strategy Strategy
	// Cluster names the MesosCluster, for the agents' Node names.
	Cluster string
	// ExecutorID is the shared executor; an agent whose offer does not list it running
	// must also fit ExecutorResources, once, for the first task placed there.
	ExecutorID        string
	ExecutorResources Request
}

// Assignment places one request on one offer.
type Assignment struct {
	Request  Request
	OfferID  mesos.OfferID
	AgentID  mesos.AgentID
	Hostname string
	// Resources are the task's, taken from the offer (roles and allocation kept).
	Resources []mesos.Resource
	// ExecutorResources are set for the first task on an agent without our executor:
	// the executor's share of the offer, for its ExecutorInfo.
	ExecutorResources []mesos.Resource
}

// Result is the outcome of a round.
type Result struct {
	Assignments []Assignment
	// Unplaced explains, per request id, why it fits no offer.
	Unplaced map[string]string
	// UnusedOffers got no task.
	UnusedOffers []mesos.OfferID
}

// Reasons a request does not fit an offer, in the order they are checked.
const (
	reasonPinned = iota
	reasonRole
	reasonSelector
	reasonCPUs
	reasonMem
	reasonDisk
	reasonGPUs
	reasonPorts
	reasonCount
)

var reasonText = [reasonCount]string{
	reasonPinned:   "didn't match the agent the pod is bound to",
	reasonRole:     "had no resources for the requested role",
	reasonSelector: "didn't match node selector",
	reasonCPUs:     "insufficient cpus",
	reasonMem:      "insufficient memory",
	reasonDisk:     "insufficient disk",
	reasonGPUs:     "insufficient gpus",
	reasonPorts:    "didn't have free ports for the requested pod ports",
}

// bucket is one scalar resource of an offer with what is left of it.
type bucket struct {
	res  mesos.Resource
	left float64
}

// portRange is one offered ports range.
type portRange struct {
	res        mesos.Resource
	begin, end uint64
}

// offerState is what is left of one offer during a round.
type offerState struct {
	offer        *mesos.Offer
	node         *corev1.Node
	scalars      map[string][]*bucket
	ports        []portRange
	usedPorts    map[uint64]bool
	needExecutor bool
	placed       int
}

func roleOf(r *mesos.Resource) string {
	if a := r.GetAllocationInfo(); a != nil && a.Role != nil {
		return *a.Role
	}
	if rs := r.GetReservations(); len(rs) > 0 {
		return rs[len(rs)-1].GetRole()
	}
	return r.GetRole()
}

func newOfferState(o *mesos.Offer, cluster, executorID string) *offerState {
	s := &offerState{offer: o, scalars: map[string][]*bucket{}, usedPorts: map[uint64]bool{}, needExecutor: executorID != ""}
	for _, id := range o.ExecutorIDs {
		if id.Value == executorID {
			s.needExecutor = false
		}
	}
	for i := range o.Resources {
		r := o.Resources[i]
		switch {
		case r.GetType() == mesos.SCALAR:
			s.scalars[r.Name] = append(s.scalars[r.Name], &bucket{res: r, left: r.GetScalar().GetValue()})
		case r.GetType() == mesos.RANGES && r.Name == "ports":
			for _, rg := range r.GetRanges().GetRange() {
				s.ports = append(s.ports, portRange{res: r, begin: rg.Begin, end: rg.End})
			}
		}
	}
	labels := agentnode.Labels(cluster, agentnode.Agent{Hostname: o.Hostname, Attributes: o.Attributes})
	for _, a := range o.Attributes {
		switch a.GetType() {
		case mesos.TEXT:
			labels[a.Name] = a.GetText().GetValue()
		case mesos.SCALAR:
			labels[a.Name] = strconv.FormatFloat(a.GetScalar().GetValue(), 'f', -1, 64)
		}
	}
	s.node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: agentnode.NodeName(cluster, o.Hostname), Labels: labels}}
	return s
}

// free sums what is left of a scalar resource for a role ("" = any).
func (s *offerState) free(name, role string) float64 {
	var sum float64
	for _, b := range s.scalars[name] {
		if role == "" || roleOf(&b.res) == role {
			sum += b.left
		}
	}
	return sum
}

// hasRole says whether the offer has any resource for the role.
func (s *offerState) hasRole(role string) bool {
	for _, bs := range s.scalars {
		for _, b := range bs {
			if roleOf(&b.res) == role {
				return true
			}
		}
	}
	return false
}

const epsilon = 1e-9

// fits returns -1 when the request (plus the executor, if the agent needs it) fits the
// offer, else the first reason it does not.
func (s *offerState) fits(r *Request, aff nodeaffinity.RequiredNodeAffinity, exec *Request) int {
	if r.Hostname != "" && r.Hostname != s.offer.Hostname {
		return reasonPinned
	}
	if r.Role != "" && !s.hasRole(r.Role) {
		return reasonRole
	}
	if ok, _ := aff.Match(s.node); !ok {
		return reasonSelector
	}
	need := func(name string, v float64) float64 {
		if exec != nil && s.needExecutor {
			switch name {
			case "cpus":
				v += exec.CPUs
			case "mem":
				v += exec.MemMB
			case "disk":
				v += exec.DiskMB
			}
		}
		return v
	}
	for _, c := range []struct {
		name   string
		v      float64
		reason int
	}{{"cpus", r.CPUs, reasonCPUs}, {"mem", r.MemMB, reasonMem}, {"disk", r.DiskMB, reasonDisk}, {"gpus", r.GPUs, reasonGPUs}} {
		if v := need(c.name, c.v); v > epsilon && s.free(c.name, r.Role)+epsilon < v {
			return c.reason
		}
	}
	for _, p := range r.HostPorts {
		if s.usedPorts[uint64(p)] || s.portRangeOf(uint64(p), r.Role) < 0 {
			return reasonPorts
		}
	}
	return -1
}

func (s *offerState) portRangeOf(p uint64, role string) int {
	for i, pr := range s.ports {
		if p >= pr.begin && p <= pr.end && (role == "" || roleOf(&pr.res) == role) {
			return i
		}
	}
	return -1
}

// take removes a scalar amount from the offer and returns the resources it came from.
func (s *offerState) take(name string, v float64, role string, out []mesos.Resource) []mesos.Resource {
	for _, b := range s.scalars[name] {
		if v <= epsilon {
			break
		}
		if b.left <= epsilon || (role != "" && roleOf(&b.res) != role) {
			continue
		}
		n := min(v, b.left)
		b.left -= n
		v -= n
		r := b.res
		r.Scalar = &mesos.Value_Scalar{Value: n}
		out = append(out, r)
	}
	return out
}

// assign takes a request's resources (and the executor's, when needed) from the offer.
func (s *offerState) assign(r *Request, exec *Request) Assignment {
	a := Assignment{Request: *r, OfferID: s.offer.ID, AgentID: s.offer.AgentID, Hostname: s.offer.Hostname}
	if exec != nil && s.needExecutor {
		for _, c := range []struct {
			name string
			v    float64
		}{{"cpus", exec.CPUs}, {"mem", exec.MemMB}, {"disk", exec.DiskMB}} {
			a.ExecutorResources = s.take(c.name, c.v, r.Role, a.ExecutorResources)
		}
		s.needExecutor = false
	}
	for _, c := range []struct {
		name string
		v    float64
	}{{"cpus", r.CPUs}, {"mem", r.MemMB}, {"disk", r.DiskMB}, {"gpus", r.GPUs}} {
		a.Resources = s.take(c.name, c.v, r.Role, a.Resources)
	}
	for _, p := range r.HostPorts {
		pr := s.ports[s.portRangeOf(uint64(p), r.Role)]
		s.usedPorts[uint64(p)] = true
		res := pr.res
		res.Ranges = &mesos.Value_Ranges{Range: []mesos.Value_Range{{Begin: uint64(p), End: uint64(p)}}}
		a.Resources = append(a.Resources, res)
	}
	s.placed++
	return a
}

// Place runs one round: each request, in order, goes to the best offer it fits.
func Place(in Input) Result {
	res := Result{Unplaced: map[string]string{}}
	states := make([]*offerState, len(in.Offers))
	for i := range in.Offers {
		states[i] = newOfferState(&in.Offers[i], in.Cluster, in.ExecutorID)
	}
	var exec *Request
	if in.ExecutorID != "" {
		exec = &in.ExecutorResources
	}
	var reasons [reasonCount]int
	agentReason := map[string]int{}
	for i := range in.Requests {
		r := &in.Requests[i]
		aff := nodeaffinity.NewRequiredNodeAffinity(r.NodeSelector, r.Affinity)
		best := -1
		var bestCPUs float64
		clear(agentReason)
		for j, s := range states {
			if why := s.fits(r, aff, exec); why >= 0 {
				if _, seen := agentReason[s.offer.AgentID.Value]; !seen {
					agentReason[s.offer.AgentID.Value] = why
				}
				continue
			}
			left := s.free("cpus", r.Role) - r.CPUs
			if best < 0 || better(in.Strategy, left, s.placed, bestCPUs, states[best].placed) {
				best, bestCPUs = j, left
			}
		}
		if best >= 0 {
			res.Assignments = append(res.Assignments, states[best].assign(r, exec))
			continue
		}
		reasons = [reasonCount]int{}
		for _, why := range agentReason {
			reasons[why]++
		}
		res.Unplaced[r.ID] = explain(len(agentReason), reasons)
	}
	for _, s := range states {
		if s.placed == 0 {
			res.UnusedOffers = append(res.UnusedOffers, s.offer.ID)
		}
	}
	return res
}

// better says whether an offer with cpus left after the task and tasks placed this
// round beats the best so far: spread wants the most room (then the fewest tasks),
// binpack the least room (then the most tasks).
func better(strategy Strategy, left float64, placed int, bestLeft float64, bestPlaced int) bool {
	if strategy == Binpack {
		return left < bestLeft-epsilon || (left <= bestLeft+epsilon && placed > bestPlaced)
	}
	return left > bestLeft+epsilon || (left >= bestLeft-epsilon && placed < bestPlaced)
}

// explain words the reasons like kube-scheduler: "0/3 agents available: 2 insufficient
// cpus, 1 didn't match node selector."
func explain(agents int, reasons [reasonCount]int) string {
	if agents == 0 {
		return "0/0 agents available: no offers from any agent."
	}
	var parts []string
	for why, n := range reasons {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, reasonText[why]))
		}
	}
	sort.SliceStable(parts, func(i, j int) bool { return parts[i] < parts[j] })
	return fmt.Sprintf("0/%d agents available: %s.", agents, strings.Join(parts, ", "))
}
