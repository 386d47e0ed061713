// Package placement matches pending tasks to Mesos offers: resources (cpus, mem, disk,
// gpus, exact host ports), node selectors and required node affinity against the
// agent's attributes and hostname, and roles; several tasks may share an offer, and a
// task that fits nowhere gets an explanation in kube-scheduler's words. It is pure: no
// Kubernetes client.
package placement

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
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
	// Spread prefers the offer with the most cpus and memory left after the task, then
	// the one with the fewest tasks placed this round.
	Spread Strategy = "spread"
	// Binpack prefers the offer with the least cpus and memory left after the task (the
	// fullest that still fits), then the one with the most tasks placed this round.
	Binpack Strategy = "binpack"
)

// Request is one task to place.
type Request struct {
	// ID identifies the request in the Result (the Mesos task id).
	ID string
	// CPUs, MemMB, DiskMB and GPUs are the scalar resources the task needs.
	CPUs, MemMB, DiskMB, GPUs float64
	// HostPorts must each be inside an offered ports range, and not be given to two
	// tasks on one agent in a round.
	HostPorts []uint32
	// NodeSelector and Affinity are the pod's; they match the labels of the agent's Node
	// (agentnode.Labels), the agent's attributes by their own names (text and scalar
	// values, as strings) and kubernetes.io/hostname = the offer's hostname. Only the
	// required node affinity counts; matchFields may name metadata.name, the Node name.
	NodeSelector map[string]string
	Affinity     *corev1.Affinity
	// Role the resources must be allocated (or reserved) to; empty means any role the
	// offer has.
	Role string
	// Node pins the task to the agent of that Node (its pod is already bound there).
	Node string
}

// Input is one placement round.
type Input struct {
	// Requests are placed in order: earlier ones get the first pick.
	Requests []Request
	Offers   []mesos.Offer
	// Strategy is Spread when empty or unknown.
	Strategy Strategy
	// Cluster names the MesosCluster, for the agents' Node names and labels.
	Cluster string
	// ExecutorID is the shared executor; an agent none of whose offers lists it running
	// must also fit ExecutorResources (cpus, mem, disk), once, with the first task placed
	// there.
	ExecutorID        string
	ExecutorResources Request
}

// Assignment places one request on one offer.
type Assignment struct {
	Request  Request
	OfferID  mesos.OfferID
	AgentID  mesos.AgentID
	Hostname string
	// Resources are the task's, for TaskInfo.resources, taken from the offer with their
	// role, reservations and allocation info, and the chosen ports as single ranges.
	Resources []mesos.Resource
	// ExecutorResources are the executor's resources on this agent, for
	// ExecutorInfo.resources: the same for every task placed on the agent, since Mesos
	// rejects a launch whose ExecutorInfo differs from the running executor's. Empty when
	// Input.ExecutorID is.
	ExecutorResources []mesos.Resource
	// NeedsExecutor is true for the one task per agent whose launch starts the
	// executor: ExecutorResources come out of this task's offer.
	NeedsExecutor bool
}

// Result is the outcome of a round.
type Result struct {
	// Assignments are in request order; tasks of one offer go into one ACCEPT.
	Assignments []Assignment
	// Unplaced explains, per request id, why it fits no offer.
	Unplaced map[string]string
	// UsedOffers got at least one task; UnusedOffers got none (decline them). Both keep
	// the order of Input.Offers.
	UsedOffers, UnusedOffers []mesos.OfferID
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

// The scalar resources placement counts, indexed like their reasons.
const (
	kindCPUs = iota
	kindMem
	kindDisk
	kindGPUs
	kindCount
)

var kindName = [kindCount]string{"cpus", "mem", "disk", "gpus"}

// amount is how much of a scalar kind a request needs.
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
	execRes   []mesos.Resource
	usedPorts map[uint64]struct{}
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
// left alone.
func usable(r *mesos.Resource) bool {
	return r.GetRevocable() == nil && r.GetShared() == nil && r.GetProviderID() == nil &&
		(r.GetDisk() == nil || (r.GetDisk().GetPersistence() == nil && r.GetDisk().GetSource() == nil))
}

func newOfferState(o *mesos.Offer, agent *agentState) *offerState {
	s := &offerState{offer: o, agent: agent}
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

// agentNode is the Node an agent is matched as: its Node name and labels, plus its
// attributes under their own names.
func agentNode(cluster string, o *mesos.Offer) *corev1.Node {
	labels := agentnode.Labels(cluster, agentnode.Agent{Hostname: o.Hostname, Attributes: o.Attributes})
	for _, a := range o.Attributes {
		switch a.GetType() {
		case mesos.TEXT:
			labels[a.Name] = a.GetText().GetValue()
		case mesos.SCALAR:
			labels[a.Name] = strconv.FormatFloat(a.GetScalar().GetValue(), 'f', -1, 64)
		}
	}
	labels[corev1.LabelHostname] = o.Hostname
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: agentnode.NodeName(cluster, o.Hostname), Labels: labels}}
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

// selector is one distinct node selector of a round with its verdict per agent.
type selector struct {
	aff nodeaffinity.RequiredNodeAffinity
	// verdict per agent index: 0 unknown, 1 matches, 2 does not.
	verdict []int8
}

func (sel *selector) matches(a *agentState) bool {
	if sel == nil {
		return true
	}
	switch sel.verdict[a.index] {
	case 1:
		return true
	case 2:
		return false
	}
	ok, _ := sel.aff.Match(a.node)
	sel.verdict[a.index] = 2
	if ok {
		sel.verdict[a.index] = 1
	}
	return ok
}

// selectorKey is a canonical text of a request's node selector and required affinity,
// or "" when it has neither.
func selectorKey(r *Request) string {
	var req *corev1.NodeSelector
	if a := r.Affinity; a != nil && a.NodeAffinity != nil {
		req = a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	if len(r.NodeSelector) == 0 && req == nil {
		return ""
	}
	// encoding/json sorts map keys, so equal selectors give equal keys.
	b, err := json.Marshal(struct {
		S map[string]string    `json:"s,omitempty"`
		A *corev1.NodeSelector `json:"a,omitempty"`
	}{r.NodeSelector, req})
	if err != nil {
		return fmt.Sprintf("%p", r)
	}
	return string(b)
}

// fits returns -1 when the request (plus the executor, if the agent still needs it)
// fits the offer, else the first reason it does not.
func (s *offerState) fits(r *Request, sel *selector, exec *Request) int {
	if r.Node != "" && r.Node != s.agent.node.Name {
		return reasonPinned
	}
	if r.Role != "" && !s.hasRole(r.Role) {
		return reasonRole
	}
	if !sel.matches(s.agent) {
		return reasonSelector
	}
	if exec != nil && s.agent.needExecutor {
		for k := 0; k < kindCount; k++ {
			v := r.amount(k)
			if k != kindGPUs {
				v += exec.amount(k)
			}
			if v > epsilon && s.free(k, r.Role)+epsilon < v {
				return reasonCPUs + k
			}
		}
	} else if r.Role == "" {
		// The common case, without calls: what is left for any role.
		switch {
		case r.CPUs > epsilon && s.left[kindCPUs]+epsilon < r.CPUs:
			return reasonCPUs
		case r.MemMB > epsilon && s.left[kindMem]+epsilon < r.MemMB:
			return reasonMem
		case r.DiskMB > epsilon && s.left[kindDisk]+epsilon < r.DiskMB:
			return reasonDisk
		case r.GPUs > epsilon && s.left[kindGPUs]+epsilon < r.GPUs:
			return reasonGPUs
		}
	} else {
		for k := 0; k < kindCount; k++ {
			if v := r.amount(k); v > epsilon && s.free(k, r.Role)+epsilon < v {
				return reasonCPUs + k
			}
		}
	}
	for i, p := range r.HostPorts {
		if slices.Contains(r.HostPorts[:i], p) {
			continue
		}
		if _, used := s.agent.usedPorts[uint64(p)]; used || s.portRangeOf(uint64(p), r.Role) < 0 {
			return reasonPorts
		}
	}
	return -1
}

// take removes an amount of a scalar kind from the offer, from one bucket when one
// holds it all, and appends the resources it came from.
func (s *offerState) take(k int, v float64, role string, out []mesos.Resource) []mesos.Resource {
	if v <= epsilon {
		return out
	}
	bs := s.buckets[k]
	for i := range bs {
		if bs[i].left+epsilon >= v && (role == "" || bs[i].role == role) {
			return s.takeFrom(k, i, v, out)
		}
	}
	for i := range bs {
		if v <= epsilon {
			break
		}
		if bs[i].left > epsilon && (role == "" || bs[i].role == role) {
			n := min(v, bs[i].left)
			out = s.takeFrom(k, i, n, out)
			v -= n
		}
	}
	return out
}

func (s *offerState) takeFrom(k, i int, n float64, out []mesos.Resource) []mesos.Resource {
	b := &s.buckets[k][i]
	b.left = max(b.left-n, 0)
	s.left[k] = max(s.left[k]-n, 0)
	r := *b.res
	r.Scalar = &mesos.Value_Scalar{Value: round3(n)}
	return append(out, r)
}

// round3 keeps three decimals, as Mesos does.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// describeExecutor is the executor's resources on an agent where it already runs: one
// resource per kind with the metadata of the offer's first one for the role.
func (s *offerState) describeExecutor(exec *Request, role string) []mesos.Resource {
	var out []mesos.Resource
	for k := 0; k < kindGPUs; k++ {
		v := exec.amount(k)
		if v <= epsilon {
			continue
		}
		for i := range s.buckets[k] {
			if role == "" || s.buckets[k][i].role == role {
				r := *s.buckets[k][i].res
				r.Scalar = &mesos.Value_Scalar{Value: round3(v)}
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// assign takes a request's resources (and the executor's, when the agent needs it)
// from the offer.
func (s *offerState) assign(r *Request, exec *Request) Assignment {
	a := Assignment{Request: *r, OfferID: s.offer.ID, AgentID: s.offer.AgentID, Hostname: s.offer.Hostname}
	if exec != nil {
		ag := s.agent
		if ag.needExecutor {
			var res []mesos.Resource
			for k := 0; k < kindGPUs; k++ {
				res = s.take(k, exec.amount(k), r.Role, res)
			}
			ag.execRes, ag.needExecutor, a.NeedsExecutor = res, false, true
		} else if ag.execRes == nil {
			ag.execRes = s.describeExecutor(exec, r.Role)
		}
		a.ExecutorResources = ag.execRes
	}
	n := 0
	for k := 0; k < kindCount; k++ {
		if r.amount(k) > epsilon {
			n++
		}
	}
	if len(r.HostPorts) > 0 {
		n++
	}
	a.Resources = make([]mesos.Resource, 0, n)
	for k := 0; k < kindCount; k++ {
		a.Resources = s.take(k, r.amount(k), r.Role, a.Resources)
	}
	a.Resources = s.takePorts(r, a.Resources)
	s.placed++
	return a
}

// takePorts marks the request's ports used on the agent and appends one ports resource
// per offered resource they come from, with adjacent ports joined into one range.
func (s *offerState) takePorts(r *Request, out []mesos.Resource) []mesos.Resource {
	if len(r.HostPorts) == 0 {
		return out
	}
	ports := slices.Clone(r.HostPorts)
	slices.Sort(ports)
	ports = slices.Compact(ports)
	if s.agent.usedPorts == nil {
		s.agent.usedPorts = map[uint64]struct{}{}
	}
	var srcBuf [4]*mesos.Resource
	srcs := srcBuf[:0] // srcs[i] is the offered resource out[first+i] was made from
	first := len(out)
	for _, p := range ports {
		src := s.ports[s.portRangeOf(uint64(p), r.Role)].res
		s.agent.usedPorts[uint64(p)] = struct{}{}
		j := slices.Index(srcs, src)
		if j < 0 {
			j = len(srcs)
			srcs = append(srcs, src)
			res := *src
			res.Ranges = &mesos.Value_Ranges{}
			out = append(out, res)
		}
		rs := &out[first+j].Ranges.Range
		if n := len(*rs); n > 0 && (*rs)[n-1].End+1 == uint64(p) {
			(*rs)[n-1].End = uint64(p)
		} else {
			*rs = append(*rs, mesos.Value_Range{Begin: uint64(p), End: uint64(p)})
		}
	}
	return out
}

// score is how much room an offer keeps after a request, cpus and memory each as a
// share of the largest offer of the round (inv holds the reciprocals of those).
func (s *offerState) score(r *Request, inv *[2]float64) float64 {
	return (s.free(kindCPUs, r.Role)-r.CPUs)*inv[0] + (s.free(kindMem, r.Role)-r.MemMB)*inv[1]
}

// better says whether an offer with score and tasks placed this round beats the best so
// far: spread wants the most room (then the fewest tasks), binpack the least room (then
// the most tasks). Ties keep the earlier offer.
func better(strategy Strategy, score float64, placed int, bestScore float64, bestPlaced int) bool {
	if strategy == Binpack {
		return score < bestScore-epsilon || (score <= bestScore+epsilon && placed > bestPlaced)
	}
	return score > bestScore+epsilon || (score >= bestScore-epsilon && placed < bestPlaced)
}

// unplacedEntry remembers why a request shape fit nowhere, valid while no task was
// placed since (resources only shrink during a round, so the verdict holds).
type unplacedEntry struct {
	placedCount int
	why         string
}

// appendShapeKey appends what decides where a request fits: its amounts, role, pin,
// ports and selector.
func appendShapeKey(b []byte, r *Request, selKey string) []byte {
	for k := 0; k < kindCount; k++ {
		b = strconv.AppendFloat(b, r.amount(k), 'g', -1, 64)
		b = append(b, ',')
	}
	b = append(b, r.Role...)
	b = append(b, 0)
	b = append(b, r.Node...)
	b = append(b, 0)
	for _, p := range r.HostPorts {
		b = strconv.AppendUint(b, uint64(p), 10)
		b = append(b, ',')
	}
	b = append(b, 0)
	return append(b, selKey...)
}

// Place runs one round: each request, in order, goes to the best offer it fits. It is
// O(requests × offers) at worst; requests shaped like one that just failed are answered
// from memory.
func Place(in Input) Result {
	res := Result{Unplaced: map[string]string{}}
	agents := map[string]*agentState{}
	var agentList []*agentState
	states := make([]offerState, len(in.Offers))
	var maxCPUs, maxMem float64
	for i := range in.Offers {
		o := &in.Offers[i]
		ag := agents[o.AgentID.Value]
		if ag == nil {
			ag = &agentState{index: len(agentList), node: agentNode(in.Cluster, o), needExecutor: in.ExecutorID != ""}
			agents[o.AgentID.Value] = ag
			agentList = append(agentList, ag)
		}
		for _, id := range o.ExecutorIDs {
			if id.Value == in.ExecutorID {
				ag.needExecutor = false
			}
		}
		states[i] = *newOfferState(o, ag)
		maxCPUs, maxMem = max(maxCPUs, states[i].left[kindCPUs]), max(maxMem, states[i].left[kindMem])
	}
	var inv [2]float64
	if maxCPUs > 0 {
		inv[0] = 1 / maxCPUs
	}
	if maxMem > 0 {
		inv[1] = 1 / maxMem
	}
	var exec *Request
	if in.ExecutorID != "" {
		exec = &in.ExecutorResources
	}

	selectors := map[string]*selector{}
	unplaced := map[string]unplacedEntry{}
	// Per agent: its best (furthest) failing reason for the current request, valid when
	// its stamp is the request's index + 1.
	agentReason := make([]int, len(agentList))
	agentStamp := make([]int, len(agentList))
	var keyBuf []byte
	placedCount := 0
	for i := range in.Requests {
		r := &in.Requests[i]
		selKey := selectorKey(r)
		var sel *selector
		if selKey != "" {
			sel = selectors[selKey]
			if sel == nil {
				sel = &selector{aff: nodeaffinity.NewRequiredNodeAffinity(r.NodeSelector, r.Affinity), verdict: make([]int8, len(agentList))}
				selectors[selKey] = sel
			}
		}
		keyBuf = appendShapeKey(keyBuf[:0], r, selKey)
		if e, ok := unplaced[string(keyBuf)]; ok && e.placedCount == placedCount {
			res.Unplaced[r.ID] = e.why
			continue
		}

		best, bestScore := -1, 0.0
		for j := range states {
			s := &states[j]
			if why := s.fits(r, sel, exec); why >= 0 {
				ag := s.agent.index
				if agentStamp[ag] != i+1 || why > agentReason[ag] {
					agentStamp[ag], agentReason[ag] = i+1, why
				}
				continue
			}
			score := s.score(r, &inv)
			if best < 0 || better(in.Strategy, score, s.placed, bestScore, states[best].placed) {
				best, bestScore = j, score
			}
		}
		if best >= 0 {
			res.Assignments = append(res.Assignments, states[best].assign(r, exec))
			placedCount++
			continue
		}
		var counts [reasonCount]int
		for ag := range agentList {
			if agentStamp[ag] == i+1 {
				counts[agentReason[ag]]++
			}
		}
		why := explain(len(agentList), counts)
		res.Unplaced[r.ID] = why
		unplaced[string(keyBuf)] = unplacedEntry{placedCount: placedCount, why: why}
	}
	for j := range states {
		if s := &states[j]; s.placed == 0 {
			res.UnusedOffers = append(res.UnusedOffers, s.offer.ID)
		} else {
			res.UsedOffers = append(res.UsedOffers, s.offer.ID)
		}
	}
	return res
}

// explain words the reasons like kube-scheduler: "0/3 agents available: 2 insufficient
// cpus, 1 didn't match node selector." Each agent counts once, by the reason of its
// offer that came closest; the most common reasons come first, ties alphabetically.
func explain(agents int, counts [reasonCount]int) string {
	if agents == 0 {
		return "0/0 agents available: no offers."
	}
	type part struct {
		n    int
		text string
	}
	var parts []part
	for why, n := range counts {
		if n > 0 {
			parts = append(parts, part{n, reasonText[why]})
		}
	}
	sort.Slice(parts, func(i, j int) bool {
		if parts[i].n != parts[j].n {
			return parts[i].n > parts[j].n
		}
		return parts[i].text < parts[j].text
	})
	var b strings.Builder
	fmt.Fprintf(&b, "0/%d agents available: ", agents)
	for i, p := range parts {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d %s", p.n, p.text)
	}
	b.WriteByte('.')
	return b.String()
}
