package mesossim

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/allocator"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// Inverse offers: while an agent's machine has an unavailability, each framework that has
// resources offered or allocated on the agent is asked for them back, and answers with
// ACCEPT_INVERSE_OFFERS or DECLINE_INVERSE_OFFERS (Mesos: src/master/allocator/mesos/
// hierarchical.cpp generateInverseOffers, updateInverseOffer; src/master/master.cpp
// Master::inverseOffer, acceptInverseOffers, declineInverseOffers, removeInverseOffer).

// inverseOffer is an outstanding inverse offer of the master (Master::inverseOffers).
type inverseOffer struct {
	id             string
	fw             *framework
	agent          *agent
	unavailability mesos.Unavailability
}

// agentMaintenance is the allocator's maintenance of an agent
// (HierarchicalAllocatorProcess's Slave::Maintenance): the unavailability, the
// frameworks it has an inverse offer out to (offersOutstanding), and each framework's
// latest answer (statuses).
type agentMaintenance struct {
	unavailability mesos.Unavailability
	outstanding    map[string]bool
	statuses       map[string]allocator.InverseOfferStatus
}

// resetAgentMaintenanceLocked gives the allocator's maintenance of an agent its
// machine's unavailability, anew (HierarchicalAllocatorProcess::updateUnavailability and
// addSlave): no answer recorded, nothing outstanding, and no framework's inverse offer
// filter of the agent left; none when the machine has no unavailability.
func (m *Master) resetAgentMaintenanceLocked(a *agent) {
	for _, fw := range m.frameworks {
		delete(fw.inverseFilters, a.id)
	}
	mach := m.machineOfLocked(a)
	if mach == nil || mach.unavailability == nil {
		delete(m.maint.agents, a.id)
		return
	}
	m.maint.agents[a.id] = &agentMaintenance{unavailability: *mach.unavailability,
		outstanding: map[string]bool{}, statuses: map[string]allocator.InverseOfferStatus{}}
}

// generateInverseOffersLocked runs after each allocation's offers, as
// HierarchicalAllocatorProcess::generateInverseOffers does after __generateOffers: for
// each agent the allocator holds (registered, connected or not) with an unavailability,
// each active framework with resources offered (this allocation's offers included) or
// allocated (live tasks, executors) on it is sent an inverse offer, unless one is
// outstanding or a filter of its last answer holds it back. The master then makes them
// (Master::inverseOffer): one INVERSE_OFFERS event per framework, each inverse offer with
// an id of the offers' sequence, the agent's url, the unavailability and no resources.
// The master drops one for an agent that is not connected (a restarting agent), while the
// allocator still counts it outstanding: that framework gets no inverse offer for the
// agent again until the machine's unavailability changes, the agent is removed, or the
// master fails over, as with Mesos.
func (m *Master) generateInverseOffersLocked(now time.Time) {
	if len(m.maint.agents) == 0 {
		return
	}
	batches := map[string][]mesos.InverseOffer{}
	for _, a := range m.agents {
		am := m.maint.agents[a.id]
		if am == nil || !a.registered() {
			continue
		}
		for _, fw := range m.usersOfAgentLocked(a) {
			if fw.removed || fw.stream == nil || am.outstanding[fw.id] || inverseFiltered(fw, a, now) {
				continue
			}
			am.outstanding[fw.id] = true
			if !a.connected() {
				continue // Master::inverseOffer: "agent ... is disconnected"
			}
			m.nextOffer++
			io := &inverseOffer{id: fmt.Sprintf("%s-O%d", m.id, m.nextOffer), fw: fw, agent: a, unavailability: am.unavailability}
			m.maint.inverse[io.id] = io
			batches[fw.id] = append(batches[fw.id], inverseOfferProto(io))
			if m.cfg.OfferTimeout > 0 {
				time.AfterFunc(m.cfg.OfferTimeout, func() { m.inverseOfferTimedOut(io) })
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(batches)) {
		m.frameworks[id].send(&scheduler.Event{Type: scheduler.Event_INVERSE_OFFERS,
			InverseOffers: &scheduler.Event_InverseOffers{InverseOffers: batches[id]}})
	}
}

// usersOfAgentLocked are the frameworks with resources offered or allocated on an agent
// (Slave::getOfferedOrAllocated): an outstanding offer, a task that has not ended (the
// master recovers a task's resources on its terminal update), or an executor.
func (m *Master) usersOfAgentLocked(a *agent) []*framework {
	users := map[string]*framework{}
	for _, o := range m.offers {
		if o.agent == a {
			users[o.fw.id] = o.fw
		}
	}
	for _, fw := range m.frameworks {
		for _, t := range fw.tasks {
			if t.agent == a && !isTerminal(t.state) {
				users[fw.id] = fw
				break
			}
		}
	}
	for key := range a.executors {
		fwID, _, _ := strings.Cut(key, "/")
		if fw := m.frameworks[fwID]; fw != nil {
			users[fwID] = fw
		}
	}
	out := make([]*framework, 0, len(users))
	for _, id := range slices.Sorted(maps.Keys(users)) {
		out = append(out, users[id])
	}
	return out
}

// inverseFiltered says whether a filter of a framework's answer holds back inverse
// offers of an agent (HierarchicalAllocatorProcess::isFiltered: RefusedInverseOfferFilter
// filters on time alone), dropping an expired one.
func inverseFiltered(fw *framework, a *agent, now time.Time) bool {
	until, ok := fw.inverseFilters[a.id]
	if ok && !now.Before(until) {
		delete(fw.inverseFilters, a.id)
		return false
	}
	return ok
}

// inverseOfferProto renders an inverse offer as Master::inverseOffer makes it.
func inverseOfferProto(io *inverseOffer) mesos.InverseOffer {
	return mesos.InverseOffer{OfferID: mesos.OfferID{Value: io.id}, URL: agentURL(io.agent),
		FrameworkID: mesos.FrameworkID{Value: io.fw.id}, AgentID: &mesos.AgentID{Value: io.agent.id},
		Unavailability: io.unavailability}
}

// inverseOffersOfLocked are a framework's outstanding inverse offers, as GET_FRAMEWORKS
// lists them (model(const Framework&)).
func (m *Master) inverseOffersOfLocked(fw *framework) []mesos.InverseOffer {
	var out []mesos.InverseOffer
	for _, id := range slices.Sorted(maps.Keys(m.maint.inverse)) {
		if io := m.maint.inverse[id]; io.fw == fw {
			out = append(out, inverseOfferProto(io))
		}
	}
	return out
}

func rescindInverseEvent(id string) *scheduler.Event {
	return &scheduler.Event{Type: scheduler.Event_RESCIND_INVERSE_OFFER,
		RescindInverseOffer: &scheduler.Event_RescindInverseOffer{InverseOfferID: mesos.OfferID{Value: id}}}
}

// inverseOfferTimedOut rescinds an inverse offer left unanswered for the offer timeout
// (Master::inverseOfferTimeout): the allocator no longer counts it outstanding, and a new
// one follows at a later allocation.
func (m *Master) inverseOfferTimedOut(io *inverseOffer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.maint.inverse[io.id] != io {
		return // answered, rescinded or dropped already
	}
	m.updateInverseOfferLocked(io, nil, nil, false, time.Now())
	m.removeInverseOfferLocked(io, true)
}

// updateInverseOfferLocked is HierarchicalAllocatorProcess::updateInverseOffer: an
// inverse offer the allocator counts outstanding no longer is, and the framework's
// answer, if it gave one, is recorded; with filters (an answer's, set or not) the
// framework gets no inverse offer of the agent for filters.refuse_seconds (5 s when
// unset or negative, at most 365 days, none for 0; unlike an offer's, not stretched to
// an allocation interval).
func (m *Master) updateInverseOfferLocked(io *inverseOffer, status *allocator.InverseOfferStatus, f *mesos.Filters, withFilters bool, now time.Time) {
	if am := m.maint.agents[io.agent.id]; am != nil && am.outstanding[io.fw.id] {
		delete(am.outstanding, io.fw.id)
		if status != nil {
			am.statuses[io.fw.id] = *status
		}
	}
	if !withFilters {
		return
	}
	d := refuse(f)
	if d == 0 {
		return
	}
	if io.fw.inverseFilters == nil {
		io.fw.inverseFilters = map[string]time.Time{}
	}
	if until := now.Add(d); until.After(io.fw.inverseFilters[io.agent.id]) {
		io.fw.inverseFilters[io.agent.id] = until // the longest of its filters holds
	}
}

// removeInverseOfferLocked drops an inverse offer, telling its framework with
// RESCIND_INVERSE_OFFER when rescind says so (Master::removeInverseOffer).
func (m *Master) removeInverseOfferLocked(io *inverseOffer, rescind bool) {
	delete(m.maint.inverse, io.id)
	if rescind {
		io.fw.send(rescindInverseEvent(io.id))
	}
}

// rescindInverseOffersOfAgentLocked rescinds an agent's inverse offers, after its offers,
// as the master does when the agent disconnects (Master::deactivate(Slave*)), is
// removed (_removeSlave, __removeSlave) or its machine's unavailability changes
// (updateUnavailability); the allocator no longer counts them outstanding.
func (m *Master) rescindInverseOffersOfAgentLocked(a *agent) {
	for _, id := range slices.Sorted(maps.Keys(m.maint.inverse)) {
		if io := m.maint.inverse[id]; io.agent == a {
			m.updateInverseOfferLocked(io, nil, nil, false, time.Now())
			m.removeInverseOfferLocked(io, true)
		}
	}
}

// dropInverseOffersOfLocked drops a framework's inverse offers, with its offers, when it
// disconnects, fails over or is removed (Master::deactivate(Framework*),
// _failoverFramework): a RESCIND_INVERSE_OFFER, if any, goes to a stream that is gone.
func (m *Master) dropInverseOffersOfLocked(fw *framework) {
	for _, id := range slices.Sorted(maps.Keys(m.maint.inverse)) {
		if io := m.maint.inverse[id]; io.fw == fw {
			m.updateInverseOfferLocked(io, nil, nil, false, time.Now())
			m.removeInverseOfferLocked(io, false)
		}
	}
}

// answerInverseOffersLocked runs ACCEPT_INVERSE_OFFERS and DECLINE_INVERSE_OFFERS
// (Master::acceptInverseOffers, declineInverseOffers; the HTTP API answers 202 either
// way): each inverse offer named that is outstanding gets the answer, with the time,
// recorded for its framework, the call's filters (its default when it has none), and is
// dropped. An id that names no outstanding inverse offer is ignored, as is an empty list
// ("No inverse offers specified" is only logged), and so is what validateInverseOffers
// finds: an inverse offer of another framework is answered for that framework.
func (m *Master) answerInverseOffersLocked(call *scheduler.Call) {
	ids, f, answer := call.GetAcceptInverseOffers().GetInverseOfferIDs(), call.GetAcceptInverseOffers().GetFilters(), allocator.InverseOfferStatus_ACCEPT
	if call.Type == scheduler.Call_DECLINE_INVERSE_OFFERS {
		ids, f, answer = call.GetDeclineInverseOffers().GetInverseOfferIDs(), call.GetDeclineInverseOffers().GetFilters(), allocator.InverseOfferStatus_DECLINE
	}
	now := time.Now()
	for _, id := range ids {
		io := m.maint.inverse[id.Value]
		if io == nil {
			continue // "no longer valid"
		}
		status := allocator.InverseOfferStatus{Status: answer.Enum(), FrameworkID: mesos.FrameworkID{Value: io.fw.id},
			Timestamp: mesos.TimeInfo{Nanoseconds: now.UnixNano()}}
		m.updateInverseOfferLocked(io, &status, f, true, now)
		m.removeInverseOfferLocked(io, false)
	}
}
