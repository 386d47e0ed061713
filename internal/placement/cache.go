package placement

import (
	"maps"
	"slices"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sm/k8sm/internal/agentnode"
)

// Cache keeps what a Place read of the agents and the offers for the Places after it. A
// scheduler that holds offers places each pod that comes, alone, over every offer it
// holds: reading them again each time (an agent's Node name and labels, an offer's
// resources sorted by kind) was most of such a round's time and all of its garbage. An
// agent's Node is made again when its hostname, port or attributes change; an offer,
// which Mesos never changes, is read again only when it is handed in with other
// resources (decoded anew). Not safe for Places at once; the zero value is ready.
type Cache struct {
	nodes  map[string]*cachedNode  // by agent id
	offers map[string]*cachedOffer // by offer id
	round  uint64
	// The last round's room, used again by the next: its offers, its agents and the
	// pointers to them (into agents, which is not grown while a round runs).
	states    []offerState
	stateOf   []int
	agents    []agentState
	agentPtrs []*agentState
	reasons   []int
	offered   [][kindCount]float64
	// left and rooms hold the last round's Result.Left.
	left  []AgentRoom
	rooms []Room
	// oneRound: the cache of a single Place, which keeps no offers.
	oneRound bool
}

// sliceOf names a slice by where it starts and how long it is: an offer handed in again
// with what was decoded for it before has the same, and needs no reading or comparing.
type sliceOf[T any] struct {
	first *T
	n     int
}

func sliceID[T any](s []T) sliceOf[T] {
	if len(s) == 0 {
		return sliceOf[T]{}
	}
	return sliceOf[T]{first: &s[0], n: len(s)}
}

type cachedNode struct {
	hostname string
	port     int32
	attrs    []mesos.Attribute
	// seen is the attributes of the offer last read: the offers of a round that held
	// them come with the same ones, which need no comparing.
	seen sliceOf[mesos.Attribute]
	node *corev1.Node
	// withLabels is node with the labels of the agent's Node object that the offer does
	// not give (nodeWith), made from nodeLabels, those labels as last read.
	withLabels *corev1.Node
	nodeLabels map[string]string
	// used is the last round that saw the agent, index its place in that round.
	used  uint64
	index int
}

type cachedOffer struct {
	// resources are the offer's resources as read.
	resources sliceOf[mesos.Resource]
	// state is the offer as newOfferState reads it, without the offer and its agent.
	state offerState
	used  uint64
}

// agent is the cache entry of an offer's agent, its Node made again when the agent's
// hostname, port or attributes changed; first says this round had not seen the agent.
func (c *Cache) agent(cluster string, o *mesos.Offer) (e *cachedNode, first bool) {
	if c.nodes == nil {
		c.nodes = map[string]*cachedNode{}
	}
	port := agentnode.OfferPort(o)
	seen := sliceID(o.Attributes)
	e = c.nodes[o.AgentID.Value]
	if e == nil || e.hostname != o.Hostname || e.port != port || !e.sameAttributes(o.Attributes, seen) {
		old := e
		e = &cachedNode{hostname: o.Hostname, port: port, attrs: slices.Clone(o.Attributes), seen: seen, node: agentNode(cluster, o), used: c.round - 1}
		if old != nil {
			// One agent is one agentState in a round, whatever its offers say.
			e.used, e.index = old.used, old.index
		}
		c.nodes[o.AgentID.Value] = e
	}
	first = e.used != c.round
	e.used = c.round
	return e, first
}

// k8smLabelDomain is the domain of the labels k8sm gives an agent's Node from its offers
// (agentnode.LabelCluster, agentnode.LabelAttributePrefix).
const k8smLabelDomain = "mesos.k8sm.io/"

// nodeWith is the agent's Node as selectors match it: the one read off the offer, with
// the labels of the agent's Node object (NodeState.Labels) it does not have, but for
// kubernetes.io/hostname and the mesos.k8sm.io/ domain, which only the offer says. It is
// made again only when the Node's labels change, and is the offer's own when they add
// nothing.
func (e *cachedNode) nodeWith(labels map[string]string) *corev1.Node {
	if e.withLabels != nil && maps.Equal(e.nodeLabels, labels) {
		return e.withLabels
	}
	var merged map[string]string
	for k, v := range labels {
		if _, offered := e.node.Labels[k]; offered || k == corev1.LabelHostname || strings.HasPrefix(k, k8smLabelDomain) {
			continue
		}
		if merged == nil {
			merged = maps.Clone(e.node.Labels)
		}
		merged[k] = v
	}
	e.nodeLabels, e.withLabels = maps.Clone(labels), e.node
	if merged != nil {
		e.withLabels = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: e.node.Name, Labels: merged}}
	}
	return e.withLabels
}

// sameAttributes says whether an offer's attributes (seen: their sliceID) are the
// agent's as cached: at once when they are those read last, else by comparing them.
func (e *cachedNode) sameAttributes(attrs []mesos.Attribute, seen sliceOf[mesos.Attribute]) bool {
	if seen == e.seen {
		return true
	}
	if !slices.EqualFunc(e.attrs, attrs, func(a, b mesos.Attribute) bool { return a.Equal(&b) }) {
		return false
	}
	e.seen = seen
	return true
}

// offer is an offer's state for this round: the one read before, its buckets shared
// until taken from, when the offer comes with the same resources.
func (c *Cache) offer(o *mesos.Offer, ag *agentState) offerState {
	if c.oneRound {
		return newOfferState(o, ag)
	}
	if c.offers == nil {
		c.offers = map[string]*cachedOffer{}
	}
	resources := sliceID(o.Resources)
	e := c.offers[o.ID.Value]
	if e == nil || e.resources != resources {
		e = &cachedOffer{resources: resources, state: newOfferState(o, nil)}
		e.state.offer = nil // each round's own: the caller's slice may be used again
		c.offers[o.ID.Value] = e
	}
	e.used = c.round
	s := e.state
	s.offer, s.agent, s.shared = o, ag, true
	return s
}

// endRound forgets the agents and offers the last rounds did not see, once more are
// kept than were offered: agents that left, offers used, declined or rescinded.
func (c *Cache) endRound(offered int) {
	if len(c.nodes) > 2*offered+1024 {
		for id, e := range c.nodes {
			if e.used != c.round {
				delete(c.nodes, id)
			}
		}
	}
	if len(c.offers) > 2*offered+1024 {
		for id, e := range c.offers {
			if e.used != c.round {
				delete(c.offers, id)
			}
		}
	}
	c.round++
}
