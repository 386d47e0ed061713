// Package placement matches pending tasks to Mesos offers: resources (cpus, mem, disk,
// gpus, exact host ports), node selectors and required node affinity against the
// agent's attributes, hostname and Node labels, required pod affinity and
// anti-affinity, DoNotSchedule topology spread, and roles; several tasks may share an
// offer, and a task that fits nowhere gets an explanation in kube-scheduler's words. It
// is pure: no Kubernetes client.
//
// The files follow a round: placement.go has the API and Place, offer.go what is left
// of each offer and agent, cache.go what a round keeps of them for the next, fit.go
// whether a request fits an offer, assign.go what it takes from the offer, strategy.go
// which fitting offer wins, explain.go why a request fits none, antiaffinity.go the
// topology domains required pod anti-affinity closes, affinity.go those pod affinity
// opens, spread.go those spread constraints leave open.
package placement

import (
	"slices"
	"strconv"

	"github.com/k8sm/k8sm/internal/agentnode"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
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
	// as the offer gives them (agentnode.Labels), the agent's attributes by their own
	// names (text and scalar values, as strings) and kubernetes.io/hostname = the offer's
	// hostname, and the other labels of the agent's Node object (NodeState.Labels). Only
	// the required node affinity counts; matchFields may name metadata.name, the Node name.
	NodeSelector map[string]string
	Affinity     *corev1.Affinity
	// Role the resources must be allocated (or reserved) to; empty means any role the
	// offer has.
	Role string
	// Node pins the task to the agent of that Node (its pod is already bound there).
	Node string
	// Tolerations are the pod's: an unpinned task goes only to an agent whose Node is
	// schedulable and has no NoSchedule or NoExecute taint it does not tolerate (see
	// Input.NodeSpec), as kube-scheduler's NodeUnschedulable and TaintToleration
	// filters decide.
	Tolerations []corev1.Toleration
	// Namespace and Labels are the pod's: the anti-affinity terms of other pods match
	// them. PodUID is the pod's, which is not held against itself (PlacedPod.UID).
	Namespace string
	Labels    map[string]string
	PodUID    string
	// AntiAffinity are the pod's required pod anti-affinity terms: it goes to no agent
	// whose Node shares a topology domain with a pod a term counts, among the pods on
	// Nodes (Input.PodsIn) and those placed before it in the round.
	AntiAffinity []PodTerm
	// PodAffinity are the pod's required pod affinity terms: it goes only to an agent
	// whose Node is, for each term, in the domain of a pod that all its terms count
	// (on a Node, or placed before it in the round), or, while no pod anywhere is
	// counted by all of them and it is itself, to any agent whose Node has every term's
	// key (the first of a group meant to run together).
	PodAffinity []PodTerm
	// Spread are the pod's topology spread constraints that are DoNotSchedule: it goes
	// only where each holds (SpreadConstraint), counting the pods on Nodes and those
	// placed before it in the round, over the domains of Input.ClusterNodes and the
	// round's agents.
	Spread []SpreadConstraint
	// Preferred are the pod's preferred node affinity, pod affinity and pod
	// anti-affinity terms and its ScheduleAnyway spread constraints (Preferences): they
	// rank the agents of the offers it fits (preferenceOf), the strategy choosing between
	// equals. Nil when it has none.
	Preferred *Preferences
	// Priority is the pod's: it weighs only against the pods nominated to agents
	// (Input.Nominated).
	Priority int32
}

// Nominated is a pod nominated to an agent's Node: pods of lower priority were
// preempted for it there (its status.nominatedNodeName), and the room they free is kept
// for it.
type Nominated struct {
	// Node is the agent's Node name, ID the pod's request id (the Mesos task id).
	Node, ID string
	Priority int32
	// CPUs, MemMB, DiskMB and GPUs are what it needs, as Request's.
	CPUs, MemMB, DiskMB, GPUs float64
}

// NodeState is what of an agent's Node keeps tasks away: a person cordoned it
// (spec.unschedulable: kubectl cordon, drain), its taints, or the Node of the agent's
// name is not the cluster's (OtherCluster): another MesosCluster's, or a kubelet's (the
// agent has no Node of its own, and a pod bound there would be that Node's).
type NodeState struct {
	Unschedulable bool
	Taints        []corev1.Taint
	OtherCluster  bool
	// Labels are the Node's (to read only): node selectors and affinity match those a
	// person put there (kubectl label node) too, as kube-scheduler matches a Node's
	// labels whoever set them. The labels read off the offer (Request.NodeSelector) are
	// the offer's whatever the Node says, and so are all of the mesos.k8sm.io/ domain:
	// a label on the Node cannot pass one agent for another.
	Labels map[string]string
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
	// RunningExecutor, when set, is the resources the executor was launched with on an
	// agent (by its id), nil when not known: Mesos takes a task for an agent where the
	// executor runs only with the very ExecutorInfo it was launched with, roles,
	// reservations and all, which the agent's offer of the day need not show (an offer
	// of another role, or of reserved and unreserved resources in another order).
	// Unknown (launched by an earlier process), they are read off the agent's offer.
	RunningExecutor func(agentID string) []mesos.Resource
	// NodeSpec, when set, says of an agent's Node (by name) what keeps tasks away from
	// it (NodeState); ok is false when the Node is not there. The cluster's own agent
	// taint (agentnode.TaintAgent) keeps kube-scheduler away and is not held against
	// the cluster's tasks.
	NodeSpec func(nodeName string) (state NodeState, ok bool)
	// Cache keeps the agents' Nodes and the offers read from one Place to the next; nil
	// reads them each time.
	Cache *Cache
	// PodsIn, when set, lists the pods on Nodes (not ended) in a namespace, every
	// namespace for "", which the requests' anti-affinity terms count. A round asks for
	// each namespace at most once, and only when a request has a term.
	PodsIn func(namespace string) []PlacedPod
	// NamespaceLabels, when set, reads a namespace's labels (nil when there is no such
	// namespace: a namespace without labels to a selector), for the terms with a
	// namespace selector; a round asks for each namespace at most once, and only when a
	// term has one.
	NamespaceLabels func(namespace string) map[string]string
	// AntiAffinityPods are the pods on Nodes (not ended) with required anti-affinity
	// terms of their own: no request they count goes into their domains.
	AntiAffinityPods []PlacedPod
	// MasterRegion is the region of the master's fault domain, "" when it has none. Mesos
	// offers an agent of another region only to a REGION_AWARE framework, and a round
	// places there only the requests whose selectors pick a region (selectsRegion).
	MasterRegion string
	// ClusterNodes, when set, are the cluster's agents' Nodes (to read only), whose
	// domains spread constraints count even when their agents offer nothing in the
	// round. Asked once, and only when a request has a constraint.
	ClusterNodes func() []*corev1.Node
	// Nominated are the pods nominated to agents' Nodes. A request of no higher
	// priority than one of them (not itself) goes to its agent only with room left for
	// it too, as kube-scheduler counts the pods nominated to a Node when it filters a
	// pod of no higher priority: a pod of lower priority does not take the room pods were
	// preempted for, while the pod they were preempted for waits for all of it. Once it
	// is placed in the round, its room is no longer kept.
	Nominated []Nominated
}

// Assignment places one request on the offers of one agent and allocation role.
type Assignment struct {
	Request Request
	// OfferID is the first of the agent's offers of the role in Input.Offers: a round
	// takes an agent's offers of one allocation role as one (Mesos offers an agent again
	// what a task freed while an offer of it is outstanding, and takes the offers of one
	// agent and role in one ACCEPT), and a request may need resources of several.
	OfferID  mesos.OfferID
	AgentID  mesos.AgentID
	Hostname string
	// Port is the agent's port (of the offer's url): with Hostname it names the agent's
	// Node (agentnode.NodeName).
	Port int32
	// Node is the agent's Node, the pod's spec.nodeName once it is bound.
	Node string
	// NeedsExecutor is true for the one task per agent whose launch starts the
	// executor: ExecutorResources come out of this task's offer.
	NeedsExecutor bool
	// Resources are the task's, for TaskInfo.resources, taken from the offer with their
	// role, reservations and allocation info, and the chosen ports as single ranges.
	Resources []mesos.Resource
	// ExecutorResources are the executor's resources on this agent, for
	// ExecutorInfo.resources: the same for every task placed on the agent, since Mesos
	// rejects a launch whose ExecutorInfo differs from the running executor's. Empty when
	// Input.ExecutorID is.
	ExecutorResources []mesos.Resource
}

// Result is the outcome of a round.
type Result struct {
	// Assignments are in request order. Tasks of one agent's offers of one role go into
	// one ACCEPT of all of them (Mesos takes several offers of one agent and role
	// together): the task that starts the executor pays for it once for all of them.
	Assignments []Assignment
	// Unplaced explains, per request id, why it fits no offer.
	Unplaced map[string]string
	// Waiting explains, per request id, why a request fits no offer as the round left
	// them, one that would have fit an offer as it was offered: other requests of the
	// round took the room. It is not unplaceable, only waiting for the next offers
	// (Mesos offers what the round's launches leave of an agent again), and is not in
	// Unplaced.
	Waiting map[string]string
	// UsedOffers got at least one task, with the other offers of its agent and role;
	// UnusedOffers got none (decline them). Both keep the order of Input.Offers.
	UsedOffers, UnusedOffers []mesos.OfferID
	// Left is what the round's offers leave on each agent they come from, once its
	// tasks are placed: room the agent has that Mesos gets back, which preemption counts
	// with what victims free (PreemptNode.Free). Its room is Input.Cache's: the next
	// round that uses the Cache writes over it.
	Left []AgentRoom
}

// AgentRoom is what offers of one agent leave, per allocation role.
type AgentRoom struct {
	// Node is the agent's Node name.
	Node  string
	Rooms []Room
}

// Room is what an agent's offers of one allocation role leave for a task: the
// executor's resources are taken from it where the executor does not run yet.
type Room struct {
	Role                      string
	CPUs, MemMB, DiskMB, GPUs float64
}

// Place runs one round: each request, in order, goes to the best offer it fits. It is
// O(requests × offers) at worst; requests shaped like one that just failed are answered
// from memory.
func Place(in Input) Result {
	res := Result{Unplaced: map[string]string{}, Waiting: map[string]string{}}
	if in.Cache == nil {
		in.Cache = &Cache{oneRound: true}
	}
	for i := range in.Requests {
		in.Requests[i].roundToMesos() // in place: the same, rounded again
	}
	in.ExecutorResources.roundToMesos()
	rd := round{in: &in, selectors: map[string]*selector{}, preferredNodes: map[string]*preferredNodes{}, unplaced: map[string]unplacedEntry{}}
	rd.readOffers()
	rd.readNominated()
	rd.anti = newAntiRound(&in, rd.agents)
	in.Cache.endRound(len(in.Offers))
	for i := range in.Requests {
		rd.place(i, &res)
	}
	for i, j := range rd.stateOf {
		if rd.states[j].placed == 0 {
			res.UnusedOffers = append(res.UnusedOffers, in.Offers[i].ID)
		} else {
			res.UsedOffers = append(res.UsedOffers, in.Offers[i].ID)
		}
	}
	res.Left = rd.left()
	return res
}

// left is what the round's offers leave, per agent (Result.Left).
func (rd *round) left() []AgentRoom {
	c := rd.in.Cache
	out := slices.Grow(c.left[:0], len(rd.agents))[:len(rd.agents)]
	rooms := slices.Grow(c.rooms[:0], len(rd.states))
	for i, ag := range rd.agents {
		from := len(rooms)
		for _, rs := range ag.states {
			left := rd.states[rs.index].left
			if ag.needExecutor && rd.exec != nil {
				for k := range kindGPUs {
					left[k] = max(left[k]-rd.exec.amount(k), 0)
				}
			}
			rooms = append(rooms, Room{Role: rs.role, CPUs: left[kindCPUs], MemMB: left[kindMem], DiskMB: left[kindDisk], GPUs: left[kindGPUs]})
		}
		out[i] = AgentRoom{Node: ag.node.Name, Rooms: rooms[from:len(rooms):len(rooms)]}
	}
	c.left, c.rooms = out, rooms
	return out
}

// round is what one Place call knows while it places the requests in order. The
// offers' states shrink as tasks are placed; the rest only saves work.
type round struct {
	in *Input
	// exec is the executor's resources, nil without an executor id.
	exec   *Request
	agents []*agentState
	// states are what is left of the offers, one per agent and allocation role, and
	// stateOf the index in states of each offer of the input.
	states  []offerState
	stateOf []int
	// inv holds the reciprocals of the largest cpus and mem offered, for score.
	inv       [2]float64
	selectors map[string]*selector
	// preferredNodes are the round's sets of preferred node affinity terms by their
	// text, with their weight on each agent worked out once (preferred.go).
	preferredNodes map[string]*preferredNodes
	unplaced       map[string]unplacedEntry
	// preferNot: an agent's Node of the round has a PreferNoSchedule taint.
	preferNot bool
	// Per agent: its best (furthest) failing reason for the current request, valid when
	// its stamp is the request's index + 1.
	agentReason, agentStamp []int
	keyBuf                  []byte
	placedCount             int
	// anti is nil unless a request or a placed pod has required pod anti-affinity.
	anti *antiRound
	// offered is what each of states had for any role as the round began.
	offered [][kindCount]float64
	// nominatedPlaced is, per Input.Nominated, whether the pod was placed in the round;
	// nil without nominated pods on the round's agents.
	nominatedPlaced []bool
	// nominees are the IDs of Input.Nominated.
	nominees map[string]bool
}

// readOffers reads the offers into states, with one agentState per agent they come
// from: an agent's offers share its ports, executor and verdicts, and its offers of one
// allocation role are one state, as one ACCEPT takes them. What it reads comes from the
// Cache when an earlier round read it, into the room the last round used.
func (rd *round) readOffers() {
	in, c := rd.in, rd.in.Cache
	if cap(c.agents) < len(in.Offers) {
		c.agents = make([]agentState, 0, len(in.Offers))
	}
	agents := c.agents[:0] // not grown below: rd.agents points into it
	rd.states, rd.agents, rd.stateOf = c.states[:0], c.agentPtrs[:0], c.stateOf[:0]
	for i := range in.Offers {
		o := &in.Offers[i]
		e, first := c.agent(in.Cluster, o)
		if first {
			e.index = len(rd.agents)
			region, _ := agentnode.FaultDomain(o.Domain)
			agents = append(agents, agentState{index: e.index, node: e.node, needExecutor: in.ExecutorID != "", remote: agentnode.Remote(region, in.MasterRegion)})
			rd.agents = append(rd.agents, &agents[e.index])
			if in.NodeSpec != nil {
				ag := rd.agents[e.index]
				if st, ok := in.NodeSpec(e.node.Name); ok {
					ag.unschedulable, ag.taints, ag.otherCluster = st.Unschedulable, blockingTaints(st.Taints, true), st.OtherCluster
					if ag.preferNot = preferNotTaints(st.Taints); ag.preferNot != nil {
						rd.preferNot = true
					}
					ag.node = e.nodeWith(st.Labels)
				}
			}
		}
		ag := rd.agents[e.index]
		if o.Unavailability != nil && !slices.Contains(ag.taints, maintenanceTaint) {
			// Scheduled for maintenance: its Node may not say so yet (it is written
			// after the offer that told).
			ag.taints = append(ag.taints, maintenanceTaint)
		}
		for _, id := range o.ExecutorIDs {
			if id.Value == in.ExecutorID && ag.needExecutor {
				ag.needExecutor = false
				if in.RunningExecutor != nil {
					ag.execRes = in.RunningExecutor(o.AgentID.Value)
				}
			}
		}
		role := AllocationRole(o)
		if j := ag.stateFor(role); j >= 0 {
			rd.states[j].merge(c.offer(o, ag))
			rd.stateOf = append(rd.stateOf, j)
			continue
		}
		ag.states = append(ag.states, roleState{role: role, index: len(rd.states)})
		rd.stateOf = append(rd.stateOf, len(rd.states))
		rd.states = append(rd.states, c.offer(o, ag))
	}
	c.states, c.agents, c.agentPtrs, c.stateOf = rd.states, agents, rd.agents, rd.stateOf
	rd.offered = c.offered[:0]
	var maxCPUs, maxMem float64
	for j := range rd.states {
		rd.offered = append(rd.offered, rd.states[j].left)
		maxCPUs, maxMem = max(maxCPUs, rd.states[j].left[kindCPUs]), max(maxMem, rd.states[j].left[kindMem])
	}
	c.offered = rd.offered
	if maxCPUs > 0 {
		rd.inv[0] = 1 / maxCPUs
	}
	if maxMem > 0 {
		rd.inv[1] = 1 / maxMem
	}
	if in.ExecutorID != "" {
		rd.exec = &in.ExecutorResources
	}
	if cap(c.reasons) < 2*len(rd.agents) {
		c.reasons = make([]int, 2*len(rd.agents))
	}
	reasons := c.reasons[:2*len(rd.agents)]
	clear(reasons)
	rd.agentReason, rd.agentStamp = reasons[:len(rd.agents)], reasons[len(rd.agents):]
}

// place puts request i on its best offer, or says in res why it fits none. A request
// shaped like one that failed since the last placement gets the same answer at once.
func (rd *round) place(i int, res *Result) {
	r := &rd.in.Requests[i]
	selKey := selectorKey(r)
	sel := rd.selectorFor(selKey, r)
	var closed []closure
	if rd.anti != nil {
		closed = rd.closedDomains(r, selKey)
	}
	// Where a request with anti-affinity terms, or kept out of some domains, may go
	// depends on the pods it is and those placed before it, not on its shape alone: it
	// is neither answered from memory nor remembered. Nor is a pod nominated to a Node:
	// the room kept there is kept from every request of its shape but itself.
	memo := len(r.AntiAffinity) == 0 && len(r.Spread) == 0 && len(closed) == 0 && !rd.nominees[r.ID]
	if memo {
		rd.keyBuf = appendShapeKey(rd.keyBuf[:0], r, selKey)
		if rd.nominatedPlaced != nil {
			rd.keyBuf = strconv.AppendInt(append(rd.keyBuf, 0), int64(r.Priority), 10)
		}
		if e, ok := rd.unplaced[string(rd.keyBuf)]; ok && e.placedCount == rd.placedCount {
			if e.waiting {
				res.Waiting[r.ID] = e.why
			} else {
				res.Unplaced[r.ID] = e.why
			}
			return
		}
	}
	if best := rd.bestOffer(i, r, sel, closed); best >= 0 {
		res.Assignments = append(res.Assignments, rd.states[best].assign(r, rd.exec))
		rd.placedCount++
		if rd.nominatedPlaced != nil {
			rd.placedNominated(r)
		}
		if rd.anti != nil {
			rd.placedOn(r, rd.states[best].agent.index)
		}
		return
	}
	why := explain(len(rd.agents), rd.reasonCounts(i))
	waiting := rd.placedCount > 0 && rd.fitAsOffered(i, r)
	if waiting {
		res.Waiting[r.ID] = why
	} else {
		res.Unplaced[r.ID] = why
	}
	if memo {
		rd.unplaced[string(rd.keyBuf)] = unplacedEntry{placedCount: rd.placedCount, why: why, waiting: waiting}
	}
}

// fitAsOffered says whether request i, which fits none of the round's offers as the
// requests before it left them, would have fit one as it was offered: an agent whose
// first failing check was for a scalar resource (everything before it passed), one of
// whose offers had enough of every scalar for the request and the executor. It says no
// (the request is unplaceable, as before) for what it cannot tell so simply: a request
// of a role, with host ports, or whose place depends on the pods placed before it.
func (rd *round) fitAsOffered(i int, r *Request) bool {
	if r.Role != "" || len(r.HostPorts) > 0 || len(r.AntiAffinity) > 0 || len(r.Spread) > 0 {
		return false
	}
	for ag, a := range rd.agents {
		if rd.agentStamp[ag] != i+1 || rd.agentReason[ag] < reasonCPUs || rd.agentReason[ag] > reasonGPUs {
			continue
		}
		for _, st := range a.states {
			if rd.fitsOffered(st.index, r) {
				return true
			}
		}
	}
	return false
}

// fitsOffered says whether state j, as offered, had enough of each scalar for r and the
// executor (counted whether or not the agent needed it: a request in doubt is
// unplaceable, as before).
func (rd *round) fitsOffered(j int, r *Request) bool {
	for k := range kindCount {
		need := r.amount(k)
		if rd.exec != nil && k != kindGPUs {
			need += rd.exec.amount(k)
		}
		if need > epsilon && rd.offered[j][k]+epsilon < need {
			return false
		}
	}
	return true
}

// selectorFor is the round's selector for key, made on first use: requests with equal
// selectors share the verdicts per agent. Nil when the request has none.
func (rd *round) selectorFor(key string, r *Request) *selector {
	if key == "" {
		return nil
	}
	sel := rd.selectors[key]
	if sel == nil {
		sel = &selector{aff: nodeaffinity.NewRequiredNodeAffinity(r.NodeSelector, r.Affinity), region: selectsRegion(r.NodeSelector, r.Affinity),
			verdict: make([]int8, len(rd.agents))}
		rd.selectors[key] = sel
	}
	return sel
}

// bestOffer is the index of the offer the strategy likes best among those request i
// fits outside the closed domains, those of the agents its preferences rank first
// (preferenceOf) before the others, or -1. For each agent it notes the furthest reason
// its offers do not fit, for the explanation.
func (rd *round) bestOffer(i int, r *Request, sel *selector, closed []closure) int {
	var rank func(*agentState) preference
	if (r.Preferred != nil || rd.preferNot) && r.Node == "" {
		rank = rd.preferenceOf(r)
	}
	best, bestScore, bestPref := -1, 0.0, preference{}
	for j := range rd.states {
		s := &rd.states[j]
		why := s.fits(r, sel, rd.exec)
		if why < 0 && len(closed) > 0 {
			why = closes(closed, s.agent)
		}
		if why < 0 && s.agent.nominated != nil {
			why = rd.keptFor(r, s)
		}
		if why >= 0 {
			ag := s.agent.index
			if rd.agentStamp[ag] != i+1 || why > rd.agentReason[ag] {
				rd.agentStamp[ag], rd.agentReason[ag] = i+1, why
			}
			continue
		}
		var pref preference
		if rank != nil {
			pref = rank(s.agent)
		}
		score := s.score(r, &rd.inv)
		if best < 0 || pref.over(bestPref) || pref == bestPref && better(rd.in.Strategy, score, s.placed, bestScore, rd.states[best].placed) {
			best, bestScore, bestPref = j, score, pref
		}
	}
	return best
}

// reasonCounts counts the agents by the reason noted for request i. Each agent counts
// once, as kube-scheduler counts each node once.
func (rd *round) reasonCounts(i int) [reasonCount]int {
	var counts [reasonCount]int
	for ag := range rd.agents {
		if rd.agentStamp[ag] == i+1 {
			counts[rd.agentReason[ag]]++
		}
	}
	return counts
}
