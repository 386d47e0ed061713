package framework

// The master's list of agents, read from its operator API after each subscription and
// every AgentPollInterval, merged into the agents the offers showed.

import (
	"context"
	"time"

	"github.com/k8sm/k8sm/internal/agentnode"
)

// pollAgents asks the operator API for the agents, and for the maintenance schedule,
// after each subscription and every AgentPollInterval.
func (d *Driver) pollAgents(ctx context.Context) {
	every := d.cfg.AgentPollInterval
	if every < 0 {
		return
	}
	if every == 0 {
		every = 30 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.pollNow:
		}
		if !d.Subscribed() {
			continue
		}
		asked, subscription := time.Now(), d.Subscription()
		agents, err := d.GetAgents(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil && !d.askSchedule(ctx) { // first: the agents new to it take theirs
			return
		}
		d.recordAgents(agents, err, asked, subscription)
	}
}

// recordAgents merges what the operator API said, asked at the time given during the
// subscription given, into the known agents. The list is the master's whole truth: a
// known agent it does not list, and that sent no offer since the list was asked, left
// the cluster (it was removed, or is unreachable) — perhaps while the framework was not
// subscribed and so heard no AGENT_REMOVED or FAILURE of it — and is forgotten, so that
// its Node stops being Ready. An agent listed inactive (it is reconnecting) or recovered
// (the master failed over, and the agent has not registered with it again) is kept, or
// if not known, held in Status.Inactive.
func (d *Driver) recordAgents(agents []MasterAgent, err error, asked time.Time, subscription uint64) {
	d.mu.Lock()
	changed := setError(&d.status.AgentsError, err)
	if err != nil {
		if changed {
			d.log.Info("Could not list the agents through the master's operator API; Node capacity comes from offers", "error", err.Error())
		}
		d.mu.Unlock()
		if changed && d.notify != nil {
			d.notify()
		}
		return
	}
	for id, at := range d.lost {
		if at.Before(asked) {
			delete(d.lost, id) // the list is newer: it has the last word
		}
	}
	if d.status.Subscribed && d.status.Subscription == subscription && !d.status.AgentsListed {
		d.status.AgentsListed, changed = true, true
	}
	listed := make(map[string]bool, len(agents))
	for _, m := range agents {
		listed[m.ID] = true
	}
	for id, a := range d.status.Agents {
		if !listed[id] && a.LastOffer.Before(asked) {
			d.log.Info("Forgetting an agent the master no longer lists", "agent", id, "hostname", a.Hostname)
			delete(d.status.Agents, id)
			changed = true
		}
	}
	inactive := map[string]Agent{}
	roles := d.cfg.FrameworkInfo.Roles
	for _, m := range agents {
		if _, gone := d.lost[m.ID]; gone {
			continue // Mesos said it is gone since the list was asked
		}
		if region, _ := agentnode.FaultDomain(m.Domain); agentnode.Remote(region, d.status.MasterRegion) && !RegionAware(&d.cfg.FrameworkInfo) {
			continue // never offered to the framework: not one of its agents
		}
		if !m.Active {
			a, known := d.status.Agents[m.ID]
			switch {
			case !known:
				inactive[m.ID] = Agent{ID: m.ID, Hostname: m.Hostname, Port: m.Port, IP: m.IP, Attributes: m.Attributes, Domain: m.Domain, Total: m.Total, Inactive: true}
			case !a.Inactive && a.LastOffer.Before(asked):
				a.Inactive, changed = true, true
				d.status.Agents[m.ID] = a
			}
			continue
		}
		a, known := d.status.Agents[m.ID]
		if !known {
			a = Agent{ID: m.ID, Hostname: m.Hostname, Port: m.Port, IP: m.IP, Attributes: m.Attributes, Domain: m.Domain}
			a.Unavailability, a.unavailabilityAt = d.scheduledLocked(m.Hostname, m.IP)
		}
		if a.Domain == nil && m.Domain != nil {
			a.Domain, changed = m.Domain, true
		}
		if a.Port == 0 {
			a.Port = m.Port
		}
		if a.IP == "" {
			a.IP = m.IP
		}
		capacity, allocatable := maxScalars(nil, m.Total, notRevocable), maxScalars(nil, m.Total, offerable(roles))
		if !known || !equalResources(a.Capacity, capacity) || !equalResources(a.Allocatable, allocatable) || a.Inactive {
			changed = true
		}
		a.Inactive = false
		a.Total, a.Capacity, a.Allocatable = m.Total, capacity, allocatable
		d.status.Agents[m.ID] = a
	}
	if !sameKeys(inactive, d.status.Inactive) {
		changed = true
	}
	d.status.Inactive = inactive
	d.mu.Unlock()
	if changed && d.notify != nil {
		d.notify()
	}
}

// sameKeys says whether two maps of agents hold the same agent ids.
func sameKeys(a, b map[string]Agent) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}
