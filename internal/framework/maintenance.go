package framework

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	mastercalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/k8sm/k8sm/internal/agentnode"
)

// Mesos's maintenance primitives (docs/maintenance.md in Mesos): its operator schedules
// windows in which machines may be taken down. While a machine is scheduled, the
// master's offers of its agents carry the window (Offer.unavailability), and a framework
// with resources there is sent inverse offers asking for them back, which it answers.
// The driver keeps each agent's window (Agent.Unavailability) from all three: offers,
// inverse offers, and the master's schedule (GET_MAINTENANCE_SCHEDULE, asked with the
// agents), the last being the only one that tells of a window cancelled on an agent the
// framework holds no offer of.

// InverseOfferHandler is a Handler that takes inverse offers. It must not block the event
// loop.
type InverseOfferHandler interface {
	InverseOffers(ctx context.Context, offers []mesos.InverseOffer)
}

// InverseOfferReceiver is a Scheduler that answers inverse offers (AnswerInverseOffers)
// as they arrive; it must not block. Without one they are left unanswered.
type InverseOfferReceiver interface {
	InverseOffers(ctx context.Context, d *Driver, offers []mesos.InverseOffer)
}

// InverseOffers records each inverse offer's window on its agent and hands them to the
// scheduler to answer.
func (h driverHandler) InverseOffers(ctx context.Context, offers []mesos.InverseOffer) {
	now, changed := time.Now(), false
	h.d.mu.Lock()
	for i := range offers {
		o := &offers[i]
		a, known := h.d.status.Agents[o.GetAgentID().GetValue()]
		if !known {
			continue // never offered: it has no Node
		}
		u := agentnode.UnavailabilityOf(&o.Unavailability)
		changed = h.d.shownLocked(a, u) || changed || !a.Unavailability.Equal(u)
		a.Unavailability, a.unavailabilityAt = u, now
		h.d.status.Agents[a.ID] = a
	}
	h.d.mu.Unlock()
	if changed && h.d.notify != nil {
		h.d.notify()
	}
	if r, ok := h.d.sched.(InverseOfferReceiver); ok {
		r.InverseOffers(ctx, h.d, offers)
	}
}

// AnswerInverseOffers accepts (the framework can give the agents' resources up: it runs
// nothing there) or declines inverse offers that came on subscription, and asks Mesos not
// to send the framework another of those agents for refuse; once that subscription ended
// it sends nothing (the inverse offers went with it) and returns ErrSubscriptionEnded.
// Mesos records the last answer of each framework for its operator
// (GET_MAINTENANCE_STATUS).
func (c *Connection) AnswerInverseOffers(ctx context.Context, subscription uint64, accept bool, ids []mesos.OfferID, refuse time.Duration) error {
	if len(ids) == 0 {
		return nil
	}
	call := calls.DeclineInverseOffers(ids...)
	if accept {
		call = calls.AcceptInverseOffers(ids...)
	}
	return c.callOn(ctx, subscription, call.With(calls.RefuseSeconds(refuse)))
}

// getMaintenanceSchedule asks the leader's operator API for the maintenance schedule:
// each scheduled machine's window, by machineKey.
func getMaintenanceSchedule(ctx context.Context, mh *masterHTTP, leader string) (map[string]*agentnode.Unavailability, error) {
	r, err := operatorCall(ctx, mh, leader, mastercalls.GetMaintenanceSchedule(), master.Response_GET_MAINTENANCE_SCHEDULE, "maintenance schedule")
	if err != nil {
		return nil, err
	}
	out := map[string]*agentnode.Unavailability{}
	for _, w := range r.GetGetMaintenanceSchedule().GetSchedule().Windows {
		for _, m := range w.MachineIDs {
			out[machineKey(m.GetHostname(), m.GetIP())] = agentnode.UnavailabilityOf(&w.Unavailability)
		}
	}
	return out, nil
}

// machineKey names the machine of an agent as Mesos does (a MachineID of the agent's
// hostname and the ip of its pid; MachineIDs compare hostnames regardless of case).
func machineKey(hostname, ip string) string {
	return strings.ToLower(hostname) + "|" + ip
}

// GetMaintenanceSchedule asks the leading master's operator API for its maintenance
// schedule, as GetAgents asks for the agents.
func (c *Connection) GetMaintenanceSchedule(ctx context.Context) (map[string]*agentnode.Unavailability, error) {
	leader := c.operatorURL()
	if leader == "" {
		return nil, ErrNotSubscribed
	}
	mh := newMasterHTTP(c.cfg)
	defer mh.closeIdle()
	return getMaintenanceSchedule(ctx, mh, leader)
}

// recordSchedule takes the master's maintenance schedule, asked at the time given, as
// the window of each known agent not told otherwise since: an offer or inverse offer
// after it is newer. A read that failed leaves the windows to offers and inverse offers,
// and its error in Status.ScheduleError; a schedule found hiding machines (Mesos leaves
// out those its ACLs hide, refusing nothing: scheduleRead.hidden) clears no window.
func (d *Driver) recordSchedule(windows map[string]*agentnode.Unavailability, err error, asked time.Time) {
	if err != nil {
		d.log.V(1).Info("Could not read the master's maintenance schedule; agents' maintenance comes from offers", "error", err.Error())
	}
	d.mu.Lock()
	// Not subscribed (the subscription ended as it was asked) or stopping: no answer of
	// the master's, and no error to show.
	changed := d.hidden == nil && !errors.Is(err, ErrNotSubscribed) && !errors.Is(err, context.Canceled) &&
		setError(&d.status.ScheduleError, err)
	if err == nil && asked.After(d.scheduleAt) {
		d.schedule, d.scheduleAt = windows, asked
	}
	for id, a := range d.status.Agents {
		if err != nil || !a.unavailabilityAt.Before(asked) || a.IP == "" {
			continue
		}
		u := windows[machineKey(a.Hostname, a.IP)]
		switch {
		case u != nil:
			// The schedule shows the machine: it does not hide it.
			delete(d.contradicted, id)
			delete(d.cleared, id)
		case a.Unavailability != nil && d.hidden != nil:
			continue
		case a.Unavailability != nil:
			d.clearedLocked(a, a.Unavailability)
		}
		// Recorded as of asked even when the same: an earlier read that answers later
		// is older.
		changed = changed || !a.Unavailability.Equal(u)
		a.Unavailability, a.unavailabilityAt = u, asked
		d.status.Agents[id] = a
	}
	d.mu.Unlock()
	if changed && d.notify != nil {
		d.notify()
	}
}

// scheduleRead is the master's maintenance schedule as a Driver last read it: each
// scheduled machine's window by machineKey, and when it was asked; and what the reads
// say of the schedule's truth.
type scheduleRead struct {
	schedule   map[string]*agentnode.Unavailability
	scheduleAt time.Time
	// cleared is the window the schedule last took off each agent, by agent id, and
	// contradicted how many times an offer or inverse offer of the agent showed that
	// window again, unchanged: Mesos leaves out of the schedule it answers the machines
	// its ACLs do not let the principal see (get_maintenance_schedules), refusing
	// nothing. One offer sent before a window was cancelled may come after the read that
	// found it gone; a second, with no read showing the machine between, means the
	// schedule hides the machine.
	cleared      map[string]*agentnode.Unavailability
	contradicted map[string]int
	// hidden is set once the schedule was found to hide a machine: from then on its
	// reads add and change windows, but clear none (offers and inverse offers do).
	hidden error
}

// hiddenAfter is how many times an agent's offers must show again a window the schedule
// took off before the schedule is taken to hide its machine.
const hiddenAfter = 2

// clearedLocked records that the schedule took window u off agent a.
func (d *Driver) clearedLocked(a Agent, u *agentnode.Unavailability) {
	if d.cleared == nil {
		d.cleared = map[string]*agentnode.Unavailability{}
	}
	d.cleared[a.ID] = u
}

// shownLocked records the window an offer or inverse offer of agent a shows, u: the
// window the schedule took off, shown again, says the schedule may hide the machine
// (scheduleRead.cleared). It says whether the schedule's error changed.
func (d *Driver) shownLocked(a Agent, u *agentnode.Unavailability) bool {
	c, ok := d.cleared[a.ID]
	if !ok {
		return false
	}
	delete(d.cleared, a.ID)
	if u == nil || !u.Equal(c) {
		return false
	}
	if d.contradicted == nil {
		d.contradicted = map[string]int{}
	}
	d.contradicted[a.ID]++
	if d.contradicted[a.ID] < hiddenAfter || d.hidden != nil {
		return false
	}
	d.hidden = fmt.Errorf("the master's maintenance schedule leaves out the window of agent %s (%s), which its offers show: Mesos leaves out the machines its ACLs do not let the framework's principal see (get_maintenance_schedules)", a.ID, a.Hostname)
	d.status.ScheduleError = d.hidden
	return true
}

// scheduledLocked is the window the maintenance schedule last read gives an agent, and
// when it was read; none while it was not read.
func (d *Driver) scheduledLocked(hostname, ip string) (*agentnode.Unavailability, time.Time) {
	if d.schedule == nil || ip == "" {
		return nil, time.Time{}
	}
	return d.schedule[machineKey(hostname, ip)], d.scheduleAt
}

// maintenancePoll is how often the master's maintenance schedule is asked while an agent
// is scheduled for maintenance: a window cancelled shows nowhere else when the framework
// holds no offer of the agent (it suppresses offers while no pod waits) and has answered
// its inverse offer (Mesos rescinds only one not answered).
const maintenancePoll = 5 * time.Second

// pollMaintenance asks the master for its maintenance schedule every maintenancePoll
// while a known agent has a window, unless the operator API is not to be asked
// (AgentPollInterval < 0).
func (d *Driver) pollMaintenance(ctx context.Context) {
	if d.cfg.AgentPollInterval < 0 {
		return
	}
	t := time.NewTicker(maintenancePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if d.Subscribed() && d.anyWindow() && !d.askSchedule(ctx) {
			return
		}
	}
}

// askSchedule asks the master for its maintenance schedule and records it; false once
// ctx is done.
func (d *Driver) askSchedule(ctx context.Context) bool {
	asked := time.Now()
	windows, err := d.GetMaintenanceSchedule(ctx)
	if ctx.Err() != nil {
		return false
	}
	d.recordSchedule(windows, err, asked)
	return true
}

// anyWindow says whether a known agent is scheduled for maintenance.
func (d *Driver) anyWindow() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range d.status.Agents {
		if a.Unavailability != nil {
			return true
		}
	}
	return false
}
