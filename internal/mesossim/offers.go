package mesossim

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// agentIP is the address of a simulated agent (its pid's ip, the offer's url.ip, the
// containers' network_infos) unless Config.LoopbackIPs gives it one of its own.
const agentIP = "127.0.0.1"

// allocate sends offers every allocation interval, and when asked to at once
// (allocateSoonLocked).
func (m *Master) allocate() {
	t := time.NewTicker(m.cfg.AllocationInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		case <-m.allocateSoon:
		}
		m.mu.Lock()
		m.allocateLocked(time.Now())
		m.mu.Unlock()
	}
}

// allocateSoonLocked has the allocation loop run now rather than at its next interval,
// as a REVIVE or a SUBSCRIBE has Mesos's allocator do (HierarchicalAllocatorProcess::
// reviveOffers and addFramework call generateOffers, which allocates at once, one
// allocation serving the calls made before it ran).
func (m *Master) allocateSoonLocked() {
	select {
	case m.allocateSoon <- struct{}{}:
	default:
	}
}

// allocateLocked offers each connected, unsuppressed framework the available resources
// (neither offered nor used) of every agent, as HierarchicalAllocatorProcess::
// __generateOffers does: an agent is offered whatever offers of it are outstanding, so a
// framework holding an offer gets another one of the resources a task there freed; it is
// offered only what is allocatable (at least the master's --min_allocatable_resources,
// cpus:0.01|mem:32 by default), allocated to the first of the framework's roles, in the
// role sorter's order (roleOrder), that no refuse filter of the framework holds back
// from the agent (filteredLocked); a MULTI_ROLE framework without roles gets none, as
// Mesos's allocator has no role to offer it resources for. One offer per agent and
// framework in each allocation.
func (m *Master) allocateLocked(now time.Time) {
	ids := make([]string, 0, len(m.frameworks))
	for id := range m.frameworks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var shares *roleShares // added up once a framework has roles to choose from
	for _, id := range ids {
		fw := m.frameworks[id]
		roles := frameworkRoles(fw.info)
		if fw.removed || fw.stream == nil || fw.suppressed || len(roles) == 0 {
			continue
		}
		if len(roles) > 1 && shares == nil {
			shares = m.roleSharesLocked()
		}
		var batch []mesos.Offer
		regionAware := hasCapability(fw.info, mesos.FrameworkInfo_Capability_REGION_AWARE)
		for _, a := range m.agents {
			if !a.connected() || !allocatable(a.free) || !regionAware && m.remote(a) {
				continue
			}
			role, ok := m.roleToOfferLocked(fw, a, roles, shares, now)
			if !ok {
				continue
			}
			m.nextOffer++
			o := &offer{id: fmt.Sprintf("%s-O%d", m.id, m.nextOffer), fw: fw, agent: a, res: a.free.clone(), role: role}
			a.free = newPool()
			m.offers[o.id] = o
			shares.allocated(role, o.res)
			m.roleChosen[role]++
			batch = append(batch, m.offerProto(o))
			if m.cfg.OfferTimeout > 0 {
				time.AfterFunc(m.cfg.OfferTimeout, func() { m.offerTimedOut(o) })
			}
		}
		if len(batch) > 0 {
			if o := m.cfg.Observer; o != nil && o.Offered != nil {
				o.Offered(fw.id, len(batch))
			}
			fw.send(&scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: batch}})
		}
	}
	m.generateInverseOffersLocked(now)
}

// roleToOfferLocked picks the role an agent's resources are offered to the framework
// for: the first of its roles in the role sorter's order that no refuse filter holds
// back from the agent (a filter holds back only the role it was set for,
// HierarchicalAllocatorProcess::isFiltered); ok is false when every role's does.
func (m *Master) roleToOfferLocked(fw *framework, a *agent, roles []string, shares *roleShares, now time.Time) (role string, ok bool) {
	if len(roles) > 1 {
		roles = roleOrder(roles, shares, m.roleChosen)
	}
	for _, r := range roles {
		if !m.filteredLocked(fw, a, r, a.free, now) {
			return r, true
		}
	}
	return "", false
}

// roleOrder orders roles as Mesos's DRF role sorter does (src/master/allocator/mesos/
// sorter/drf/sorter.hpp, compareDRF): the smaller dominant share of the cluster first,
// then the role chosen for fewer allocations, then by name. The master's counts of
// allocations start again at a master failover, as the sorter's are not kept across one.
func roleOrder(roles []string, shares *roleShares, chosen map[string]int) []string {
	out := slices.Clone(roles)
	sort.SliceStable(out, func(i, j int) bool {
		if si, sj := shares.dominant(out[i]), shares.dominant(out[j]); si != sj {
			return si < sj
		}
		if ci, cj := chosen[out[i]], chosen[out[j]]; ci != cj {
			return ci < cj
		}
		return out[i] < out[j]
	})
	return out
}

// roleShares is what each role holds (outstanding offers and the live tasks the master
// holds, by scalar resource) against the total of the registered agents, for the role
// sorter.
type roleShares struct {
	total map[string]float64
	held  map[string]map[string]float64
}

// roleSharesLocked adds up what each role holds now.
func (m *Master) roleSharesLocked() *roleShares {
	s := &roleShares{total: map[string]float64{}, held: map[string]map[string]float64{}}
	for _, a := range m.agents {
		if a.registered() {
			for name, v := range a.total.scalars {
				s.total[name] += v
			}
		}
	}
	for _, o := range m.offers {
		s.allocated(o.role, o.res)
	}
	for _, fw := range m.frameworks {
		for _, t := range fw.tasks {
			if !fw.removed && !isTerminal(t.state) && t.agent.registered() {
				s.allocated(t.role, t.res)
			}
		}
	}
	return s
}

// allocated adds res to what role holds; nothing when shares are not added up.
func (s *roleShares) allocated(role string, res pool) {
	if s == nil {
		return
	}
	h := s.held[role]
	if h == nil {
		h = map[string]float64{}
		s.held[role] = h
	}
	for name, v := range res.scalars {
		h[name] += v
	}
}

// dominant is a role's dominant share: its largest fraction of any scalar resource of
// the cluster.
func (s *roleShares) dominant(role string) float64 {
	share := 0.0
	for name, total := range s.total {
		if total > 0 {
			share = max(share, s.held[role][name]/total)
		}
	}
	return share
}

// The default of Mesos's master flag --min_allocatable_resources ("cpus:0.01|mem:32",
// src/master/flags.cpp, from MIN_CPUS and MIN_MEM in src/master/constants.hpp): the
// allocator offers an agent's resources only when they hold at least one of the two.
const (
	minAllocatableCPUs  = 0.01
	minAllocatableMemMB = 32
)

// allocatable says whether resources are worth an offer (HierarchicalAllocatorProcess::
// allocatable with the default minimum): an agent left with only disk or ports, or
// crumbs of cpus and mem, is not offered.
func allocatable(p pool) bool {
	return p.scalars["cpus"]+1e-9 >= minAllocatableCPUs || p.scalars["mem"]+1e-9 >= minAllocatableMemMB
}

// refusal is a refuse filter (Mesos: RefusedOfferFilter in hierarchical.cpp): resources
// a framework declined, or left unused in an ACCEPT, on an agent for a role. Until it
// expires the framework is not offered resources of the agent that the refused ones
// contain; more (a task there ended) is offered at once.
type refusal struct {
	res   pool
	role  string
	until time.Time
}

// filteredLocked says whether a refuse filter of the framework holds back res of the
// agent for role (HierarchicalAllocatorProcess::isFiltered), dropping the filters that
// expired.
func (m *Master) filteredLocked(fw *framework, a *agent, role string, res pool, now time.Time) bool {
	fs := fw.filters[a.id]
	if len(fs) == 0 {
		return false
	}
	filtered := false
	kept := fs[:0]
	for _, f := range fs {
		if !now.Before(f.until) {
			continue
		}
		kept = append(kept, f)
		if f.role == role && f.res.contains(res) {
			filtered = true
		}
	}
	clear(fs[len(kept):])
	if len(kept) == 0 {
		delete(fw.filters, a.id)
	} else {
		fw.filters[a.id] = kept
	}
	return filtered
}

// refuseLocked installs the refuse filter of resources given back by a DECLINE or left
// unused by an ACCEPT, as HierarchicalAllocatorProcess::recoverResources does: for
// filters.refuse_seconds (5 s when unset, negative or not a number; at most 365 days),
// none for 0, and never shorter than an allocation interval, so that an allocation runs
// before it expires (MESOS-4302). A framework may have several filters on one agent; each
// runs its course.
func (m *Master) refuseLocked(fw *framework, a *agent, role string, res pool, f *mesos.Filters, now time.Time) {
	d := refuse(f)
	if d == 0 || res.empty() || a.gone {
		return
	}
	d = max(d, m.cfg.AllocationInterval)
	fw.filters[a.id] = append(fw.filters[a.id], refusal{res: res.clone(), role: role, until: now.Add(d)})
}

// clearFiltersLocked drops a framework's refuse filters for the roles given, or all of
// them when none are (HierarchicalAllocatorProcess::reviveRoles on REVIVE;
// deactivateFramework clears them all when the framework disconnects). Either clears
// its inverse offer filters, of every role (inverse.go).
func clearFiltersLocked(fw *framework, roles []string) {
	clear(fw.inverseFilters)
	if len(roles) == 0 {
		clear(fw.filters)
		return
	}
	for id, fs := range fw.filters {
		kept := slices.DeleteFunc(fs, func(f refusal) bool { return slices.Contains(roles, f.role) })
		if len(kept) == 0 {
			delete(fw.filters, id)
		} else {
			fw.filters[id] = kept
		}
	}
}

// dropFiltersOfAgentLocked drops every framework's refuse filters of an agent that left
// the allocator (removed, or marked unreachable: HierarchicalAllocatorProcess::
// removeSlave, removeFilters), its inverse offer filters and maintenance with them; it
// comes back, if ever, as a new agent to it.
func (m *Master) dropFiltersOfAgentLocked(a *agent) {
	for _, fw := range m.frameworks {
		delete(fw.filters, a.id)
		delete(fw.inverseFilters, a.id)
	}
	delete(m.maint.agents, a.id)
}

// offerProto renders an offer as Master::offer (src/master/master.cpp) sends it: the
// agent's url from its pid, and — per MESOS-8237 — Offer.allocation_info and each
// resource's allocation_info only for MULTI_ROLE frameworks, since a scheduler that
// predates MULTI_ROLE compares resources whole and would find nothing it asks for in an
// offer that carries them; unreserved resources keep the legacy `role: "*"` unless the
// framework is RESERVATION_REFINEMENT capable (convertResourceFormat); and the
// unavailability of the agent's machine, if it has one (maintenance.go).
func (m *Master) offerProto(o *offer) mesos.Offer {
	info := o.fw.info
	multiRole := hasCapability(info, mesos.FrameworkInfo_Capability_MULTI_ROLE)
	alloc := ""
	if multiRole {
		alloc = o.role
	}
	var execs []mesos.ExecutorID
	prefix := o.fw.id + "/"
	for k, e := range o.agent.executors {
		if strings.HasPrefix(k, prefix) {
			execs = append(execs, e.ExecutorID)
		}
	}
	sort.Slice(execs, func(i, j int) bool { return execs[i].Value < execs[j].Value })
	out := mesos.Offer{
		ID:          mesos.OfferID{Value: o.id},
		FrameworkID: mesos.FrameworkID{Value: o.fw.id},
		AgentID:     mesos.AgentID{Value: o.agent.id},
		Hostname:    o.agent.hostname,
		URL:         agentURL(o.agent),
		Resources:   o.res.toResources(alloc, !hasCapability(info, mesos.FrameworkInfo_Capability_RESERVATION_REFINEMENT)),
		Attributes:  o.agent.attrs,
		Domain:      o.agent.domain,
		ExecutorIDs: execs,
	}
	if multiRole {
		out.AllocationInfo = &mesos.Resource_AllocationInfo{Role: &alloc}
	}
	if mach := m.machineOfLocked(o.agent); mach != nil && mach.unavailability != nil {
		u := *mach.unavailability
		out.Unavailability = &u
	}
	return out
}

// agentURL is the url of an agent in its offers and inverse offers: its hostname, the ip
// and port of its pid, and the pid's id as the path.
func agentURL(a *agent) *mesos.URL {
	hostname, ip := a.hostname, a.ip
	return &mesos.URL{Scheme: "http", Address: mesos.Address{Hostname: &hostname, IP: &ip, Port: a.port}, Path: ptr("/slave(1)")}
}

// offerTimedOut rescinds an offer left unused for the offer timeout; its resources go
// back to the agent and may be offered again at the next allocation (master.cpp:
// Master::offerTimeout, removeOffer with rescind).
func (m *Master) offerTimedOut(o *offer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.offers[o.id] != o {
		return // used, declined or rescinded already
	}
	m.recoverOfferLocked(o)
	o.fw.send(rescindEvent(o.id))
}

// rescindOffersOfAgentLocked withdraws every outstanding offer of an agent, giving the
// resources back unless the agent is gone, and then its inverse offers.
func (m *Master) rescindOffersOfAgentLocked(a *agent) {
	for _, o := range m.offers {
		if o.agent == a {
			m.recoverOfferLocked(o)
			o.fw.send(rescindEvent(o.id))
		}
	}
	m.rescindInverseOffersOfAgentLocked(a)
}

func rescindEvent(offerID string) *scheduler.Event {
	return &scheduler.Event{Type: scheduler.Event_RESCIND, Rescind: &scheduler.Event_Rescind{OfferID: mesos.OfferID{Value: offerID}}}
}

// recoverOfferLocked gives an offer's resources back to its agent.
func (m *Master) recoverOfferLocked(o *offer) {
	delete(m.offers, o.id)
	if !o.agent.gone {
		o.agent.free.add(o.res)
	}
}

// recoverOffersOfLocked drops every outstanding offer of a framework; rescind says
// whether to tell it. Its inverse offers go too, untold.
func (m *Master) recoverOffersOfLocked(fw *framework, rescind bool) {
	for _, o := range m.offers {
		if o.fw != fw {
			continue
		}
		m.recoverOfferLocked(o)
		if rescind {
			fw.send(rescindEvent(o.id))
		}
	}
	m.dropInverseOffersOfLocked(fw)
}
