package framework

import (
	"context"
	"errors"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/k8sm/k8sm/internal/agentnode"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// Agent is what the framework knows of one Mesos agent from its offers.
type Agent struct {
	ID       string
	Hostname string
	// Port is the port the agent serves on (AgentInfo.port, an offer's url); with the
	// hostname it tells apart agents that share a host.
	Port int32
	// IP is the agent's address (an offer's url.ip, else the ip of its pid in
	// GET_AGENTS); empty when neither says.
	IP         string
	Attributes []mesos.Attribute
	// Domain is the agent's fault domain (--domain: region and zone), nil when it has
	// none.
	Domain *mesos.DomainInfo
	// Offered are the resources of the agent's latest offer.
	Offered mesos.Resources
	// Capacity holds, per scalar resource name, the agent's whole resources but the
	// revocable ones (oversubscribed: the framework never takes them, and they move with
	// the agent's estimate at every list): its total from the master's operator API when
	// that answers, else the most it ever offered (other frameworks' use hides part of it).
	Capacity mesos.Resources
	// Allocatable holds, per scalar resource name, what of the agent the framework's roles
	// may ever be offered as plain resources, the part of Capacity its tasks may have
	// (see offerable): from the operator API's total, else the most the agent ever offered.
	Allocatable mesos.Resources
	// Total is the agent's total from the operator API; empty when not known.
	Total mesos.Resources
	// LastOffer is when the agent last sent an offer.
	LastOffer time.Time
	// Inactive: the master's last list had the agent, but not as active (disconnected,
	// deactivated, or recovered from the registry and not registered again since a
	// master failover) and it has not offered since.
	Inactive bool
	// Unavailability is the maintenance scheduled for the agent's machine, nil when none:
	// as its latest offer, inverse offer or the master's schedule said (maintenance.go).
	Unavailability *agentnode.Unavailability
	// unavailabilityAt is when Unavailability was learnt.
	unavailabilityAt time.Time
}

// RegionAware says whether a framework asks for the REGION_AWARE capability, and so is
// offered the agents of other regions than the master's.
func RegionAware(info *mesos.FrameworkInfo) bool {
	for _, c := range info.GetCapabilities() {
		if c.GetType() == mesos.FrameworkInfo_Capability_REGION_AWARE {
			return true
		}
	}
	return false
}

// Status is a snapshot of a Driver, for the MesosCluster status.
type Status struct {
	Subscribed  bool
	FrameworkID string
	Leader      string
	// MasterRegion is the region of the master's fault domain (--domain) as its last
	// SUBSCRIBED said, "" when it has none: Mesos offers the agents of other regions
	// only to REGION_AWARE frameworks.
	MasterRegion string
	// LastError is why the last subscription ended or failed; nil while subscribed.
	LastError error
	// Refused is the message of Mesos's ERROR event while that ERROR is what ended the
	// last subscription or attempt, or, once Mesos removed the framework (IsRemoved),
	// until a subscription is accepted.
	Refused string
	// Reconciled is true once Mesos answered for every task asked about after the
	// current subscription; ReconciledAt says when it turned so.
	Reconciled   bool
	ReconciledAt time.Time
	// Subscription names the current subscription, or the last one: Connection.Subscription
	// while it was held.
	Subscription uint64
	// SubscribedAt is when the current subscription began.
	SubscribedAt time.Time
	// Agents seen in offers or listed by the operator API, by agent id.
	Agents map[string]Agent
	// AgentsListed is set once the operator API listed the agents (GET_AGENTS) for the
	// current subscription: until then, an agent Agents lacks may only not have been
	// heard of yet (a new Driver knows none).
	AgentsListed bool
	// Inactive are the agents the master knows but that are not active, and that Agents
	// lacks, by agent id: those it recovered from its registry after a failover and that
	// have not registered with it again (GET_AGENTS recovered_agents), and those it lists
	// inactive (disconnected, or deactivated). They may come back.
	Inactive map[string]Agent
	// AgentsError is why the operator API could not list the agents, if it could not.
	AgentsError error
	// ScheduleError is why the master's maintenance schedule (GET_MAINTENANCE_SCHEDULE)
	// could not be read when last asked, if it could not.
	ScheduleError error
	// TasksError is why the master's list of the tasks it holds (GET_TASKS) could not be
	// had, or was not whole, when last asked, if so (SetTasksListed).
	TasksError error
	// Reported are the agents Mesos showed registered since the current subscription
	// otherwise than by offers and the list, by agent id: one of their executors sent
	// a message (the master forwards those of registered agents only), or a task on
	// them was updated neither ended nor unreachable (the master has a task's latest
	// state only while its agent is registered). An agent Mesos said is lost since (a
	// FAILURE naming it, or a task on it unreachable, unknown or gone by the operator) is
	// not. Where the master does not list its agents, a fully used agent, or one whose
	// offers the framework suppressed, shows itself no other way.
	Reported map[string]bool
}

// Scheduler is the part of the operator that decides what to do with offers and updates.
type Scheduler interface {
	// Offers are handed over as they arrive; the scheduler launches or declines each one,
	// on the subscription they came on (d.Subscription() as they are handed over): they
	// are void once it ends.
	Offers(ctx context.Context, d *Driver, offers []mesos.Offer)
	// Rescind withdraws an offer handed over earlier.
	Rescind(ctx context.Context, offerID mesos.OfferID)
	// Update is a task status update; ack it once persisted.
	Update(ctx context.Context, status mesos.TaskStatus, ack func(context.Context) error)
	// Subscribed is called after each (re)subscription, before any offer of it; the
	// scheduler reconciles its tasks there.
	Subscribed(ctx context.Context, d *Driver)
}

// ExecutorEndReceiver is a Scheduler told when Mesos reports that one of its executors
// ended (a FAILURE event naming an executor: it exited, was killed, or its agent destroyed
// its container).
type ExecutorEndReceiver interface {
	ExecutorEnded(ctx context.Context, agentID, executorID string)
}

// MessageReceiver is a Scheduler that takes the framework messages its executors send
// (see MessageHandler).
type MessageReceiver interface {
	Message(ctx context.Context, d *Driver, agentID, executorID string, data []byte)
}

// Observer is told how a Driver's subscription fares, for metrics. The operator's
// metrics.Cluster is one; it lives outside this package so that the Mesos layer does not
// depend on Kubernetes libraries.
type Observer interface {
	// Subscribed: the master accepted a subscription; reconnect says one was held or
	// tried before.
	Subscribed(reconnect bool)
	// Disconnected: a subscription ended or an attempt failed, for reason (one of the
	// Reason* constants).
	Disconnected(reason string)
	// Stopped: the Driver was stopped on purpose.
	Stopped()
}

// noObserver is the Observer of a Config without one.
type noObserver struct{}

func (noObserver) Subscribed(bool)     {}
func (noObserver) Disconnected(string) {}
func (noObserver) Stopped()            {}

// Driver runs one Connection for a MesosCluster and keeps its Status, telling the
// operator through notify whenever the status changes.
type Driver struct {
	*Connection
	sched  Scheduler
	notify func()

	mu     sync.Mutex
	status Status

	cancel  context.CancelFunc
	done    chan struct{}
	pollNow chan struct{}

	observer Observer
	// lost is when Mesos last said an agent is gone (a FAILURE naming it), by agent id,
	// under mu: a list asked before then does not take it back (recordAgents).
	lost         map[string]time.Time
	scheduleRead // the maintenance schedule as last read, under mu
	// tried is set once a subscription was held or attempted, so that the next
	// subscription counts as a reconnect.
	tried bool
}

// NewDriver makes a Driver; notify is called (without blocking) after status changes.
func NewDriver(cfg Config, sched Scheduler, notify func()) (*Driver, error) {
	d := &Driver{sched: sched, notify: notify, status: Status{Agents: map[string]Agent{}}, pollNow: make(chan struct{}, 1),
		observer: cfg.Observer}
	if d.observer == nil {
		d.observer = noObserver{}
	}
	conn, err := New(cfg, driverHandler{d})
	if err != nil {
		return nil, err
	}
	d.Connection = conn
	d.status.FrameworkID = conn.FrameworkID()
	return d, nil
}

// Start runs the connection in the background until Stop.
func (d *Driver) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		d.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		d.pollAgents(ctx)
	}()
	go func() {
		defer wg.Done()
		d.pollMaintenance(ctx)
	}()
	go func() {
		wg.Wait()
		close(d.done)
	}()
}

// Stop ends the connection and waits for it. It does not tear the framework down.
func (d *Driver) Stop() {
	if d.cancel == nil {
		return
	}
	d.cancel()
	<-d.done
	d.observer.Stopped()
}

// MasterRegion is the region of the master's fault domain as its last SUBSCRIBED said
// (Status.MasterRegion), without the copy of the agents Status makes.
func (d *Driver) MasterRegion() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status.MasterRegion
}

// Status returns a copy of the driver's status.
func (d *Driver) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.status
	s.Agents = maps.Clone(d.status.Agents)
	s.Inactive = maps.Clone(d.status.Inactive)
	s.Reported = maps.Clone(d.status.Reported)
	return s
}

// report records what Mesos just showed of an agent (Status.Reported): registered, or,
// when registered is false, lost. The operator is told when that changes while the
// master's list of agents is missing (the only time the Nodes read it).
func (d *Driver) report(agentID string, registered bool) {
	if agentID == "" {
		return
	}
	d.mu.Lock()
	changed := d.status.Reported[agentID] != registered
	switch {
	case !changed:
	case registered:
		if d.status.Reported == nil {
			d.status.Reported = map[string]bool{}
		}
		d.status.Reported[agentID] = true
	default:
		delete(d.status.Reported, agentID)
	}
	// Only while the master's list of agents is missing does a report say more than
	// the list: once it is there, waking the operator for each agent's first report
	// would make a pass over every pod and Node of the cluster per agent.
	wake := changed && !d.status.AgentsListed
	d.mu.Unlock()
	if wake && d.notify != nil {
		d.notify()
	}
}

// agentShown says what a task's update shows of its agent: registered (known) while the
// task is neither ended nor unreachable, lost when the task is unreachable, unknown to the
// master, or gone with its agent, nothing otherwise (an ended task's last update may
// come from the master, after its agent left).
func agentShown(state mesos.TaskState) (registered, known bool) {
	switch state {
	case mesos.TASK_STAGING, mesos.TASK_STARTING, mesos.TASK_RUNNING, mesos.TASK_KILLING:
		return true, true
	case mesos.TASK_UNREACHABLE, mesos.TASK_UNKNOWN, mesos.TASK_GONE_BY_OPERATOR:
		return false, true
	}
	return false, false
}

// AgentIDs lists the agents seen, sorted.
func (d *Driver) AgentIDs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	ids := make([]string, 0, len(d.status.Agents))
	for id := range d.status.Agents {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (d *Driver) update(f func(*Status)) {
	d.mu.Lock()
	f(&d.status)
	d.mu.Unlock()
	if d.notify != nil {
		d.notify()
	}
}

// driverHandler adapts the Connection's events to the Driver and its Scheduler.
type driverHandler struct{ d *Driver }

func (h driverHandler) Subscribed(ctx context.Context, frameworkID string, master *mesos.MasterInfo) {
	h.d.mu.Lock()
	reconnect := h.d.tried
	h.d.tried = true
	h.d.mu.Unlock()
	h.d.observer.Subscribed(reconnect)
	h.d.update(func(s *Status) {
		s.Subscribed, s.FrameworkID, s.Leader, s.LastError, s.Refused, s.Reconciled = true, frameworkID, h.d.Leader(), nil, "", false
		s.MasterRegion = master.GetDomain().GetFaultDomain().GetRegion().Name
		s.Subscription = h.d.Subscription()
		// The agents are listed again for this subscription (pollAgents, at once).
		s.SubscribedAt, s.AgentsListed, s.Inactive, s.Reported = time.Now(), false, nil, nil
	})
	select {
	case h.d.pollNow <- struct{}{}:
	default:
	}
	if h.d.sched != nil {
		h.d.sched.Subscribed(ctx, h.d)
	}
}

func (h driverHandler) Message(ctx context.Context, agentID, executorID string, data []byte) {
	h.d.report(agentID, true)
	if mr, ok := h.d.sched.(MessageReceiver); ok {
		mr.Message(ctx, h.d, agentID, executorID, data)
	}
}

func (h driverHandler) Disconnected(_ context.Context, err error) {
	reason := ReasonStreamClosed
	var se *SubscribeError
	if errors.As(err, &se) {
		reason = se.Reason
	}
	// Counted by the reason the cluster's condition shows: a removal or a takeover is
	// what an operator alerts on, not one more refusal.
	if r := Refusal(err); r != "" {
		reason = RefusalReason(r)
	}
	h.d.observer.Disconnected(reason)
	h.d.update(func(s *Status) {
		h.d.tried = true
		s.Subscribed, s.Leader, s.LastError, s.Reconciled = false, "", err, false
		// An ERROR refuses the stream it came on: an attempt that fails otherwise since
		// (the master unreachable, say) is what the status is to show. A removed
		// framework stays so: Mesos refuses each of its subscriptions.
		if r := Refusal(err); r != "" || !IsRemoved(s.Refused) {
			s.Refused = r
		}
	})
}

func (h driverHandler) Offers(ctx context.Context, offers []mesos.Offer) {
	now := time.Now()
	tell := false
	h.d.mu.Lock()
	for _, o := range offers {
		prev, known := h.d.status.Agents[o.AgentID.Value]
		tell = tell || !known
		// All of an offer is for the framework's roles: Mesos strips what they may not have.
		capacity, allocatable := maxScalars(prev.Capacity, o.Resources, notRevocable), maxScalars(prev.Allocatable, o.Resources, plain)
		if len(prev.Total) > 0 {
			capacity, allocatable = prev.Capacity, prev.Allocatable
		}
		h.d.status.Agents[o.AgentID.Value] = Agent{
			ID: o.AgentID.Value, Hostname: o.Hostname, Port: o.GetURL().GetAddress().Port, IP: offerIP(o), Attributes: o.Attributes,
			Domain: o.Domain, Offered: mesos.Resources(o.Resources), LastOffer: now,
			Capacity: capacity, Allocatable: allocatable, Total: prev.Total,
			Unavailability: agentnode.UnavailabilityOf(o.Unavailability), unavailabilityAt: now,
		}
		shown := h.d.status.Agents[o.AgentID.Value]
		tell = h.d.shownLocked(shown, shown.Unavailability) || tell || !prev.Unavailability.Equal(shown.Unavailability)
	}
	h.d.mu.Unlock()
	// Offers come every second; wake the operator only for what it shows: a new agent or
	// a change of its maintenance (resources are picked up by its periodic resync).
	if tell && h.d.notify != nil {
		h.d.notify()
	}
	if h.d.sched != nil {
		h.d.sched.Offers(ctx, h.d, offers)
		return
	}
	ids := make([]mesos.OfferID, len(offers))
	for i, o := range offers {
		ids[i] = o.ID
	}
	_ = h.d.Decline(ctx, h.d.Subscription(), ids, 5*time.Second)
}

func (h driverHandler) Rescind(ctx context.Context, offerID mesos.OfferID) {
	if h.d.sched != nil {
		h.d.sched.Rescind(ctx, offerID)
	}
}

func (h driverHandler) Update(ctx context.Context, status mesos.TaskStatus, ack func(context.Context) error) {
	if registered, known := agentShown(status.GetState()); known && status.GetAgentID().GetValue() != "" {
		h.d.report(status.AgentID.Value, registered)
	}
	if h.d.sched != nil {
		h.d.sched.Update(ctx, status, ack)
	}
}

func (h driverHandler) Failure(ctx context.Context, f *scheduler.Event_Failure) {
	switch {
	case f.AgentID == nil:
	case f.ExecutorID != nil:
		if er, ok := h.d.sched.(ExecutorEndReceiver); ok {
			er.ExecutorEnded(ctx, f.AgentID.Value, f.ExecutorID.Value)
		}
	default:
		h.d.update(func(s *Status) {
			delete(s.Agents, f.AgentID.Value)
			delete(s.Reported, f.AgentID.Value)
			if h.d.lost == nil {
				h.d.lost = map[string]time.Time{}
			}
			h.d.lost[f.AgentID.Value] = time.Now()
		})
	}
}

func (h driverHandler) Error(_ context.Context, message string) {
	h.d.update(func(s *Status) { s.Refused = message })
}

// offerIP is the agent's address in an offer's url; empty when it gives none.
func offerIP(o mesos.Offer) string {
	if o.URL == nil || o.URL.Address.IP == nil {
		return ""
	}
	return *o.URL.Address.IP
}
