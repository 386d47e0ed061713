package mesossim

// Inverse offers and the unavailability of offers, through mesos-go's httpsched client,
// as Mesos 1.12 makes them (hierarchical.cpp generateInverseOffers, master.cpp
// Master::inverseOffer, acceptInverseOffers, declineInverseOffers).

import (
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/allocator"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
	mastercalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// drain is a sim of two agents where framework a (PARTITION_AWARE) runs task t1, with
// executor e1, on agent-1, and holds an offer of each agent.
type drain struct {
	m       *Master
	a       *sched
	machine mesos.MachineID      // agent-1's
	unav    mesos.Unavailability // in an hour, for an hour
	held    map[string]mesos.Offer
}

func newDrain(t *testing.T, cfg Config) *drain {
	t.Helper()
	cfg.Agents, cfg.AgentResources = 2, "cpus:4;mem:1024"
	if cfg.AllocationInterval == 0 {
		cfg.AllocationInterval = 50 * time.Millisecond
	}
	m := startSim(t, cfg)
	a := newSched(t, m)
	a.subscribe(info(mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	held := map[string]mesos.Offer{}
	for len(held) < 2 {
		for _, o := range a.next(scheduler.Event_OFFERS).GetOffers().Offers {
			held[o.Hostname] = o
		}
	}
	a.launch(held["agent-1"], simExecutor("e1"), "t1")
	a.waitState("t1", mesos.TASK_RUNNING)
	held["agent-1"] = a.offer("agent-1") // what t1 left
	machine, err := m.AgentMachine("agent-1")
	if err != nil {
		t.Fatal(err)
	}
	return &drain{m: m, a: a, machine: machine, unav: unavailability(time.Hour), held: held}
}

// schedule schedules agent-1's machine for u and returns the inverse offer a gets, and
// the events before it.
func (d *drain) schedule(t *testing.T, u mesos.Unavailability) (mesos.InverseOffer, []*scheduler.Event) {
	t.Helper()
	if err := d.m.UpdateMaintenanceSchedule(scheduleOf(u, d.machine)); err != nil {
		t.Fatal(err)
	}
	return d.a.inverseOffer()
}

// unavailability starts in d and lasts an hour.
func unavailability(d time.Duration) mesos.Unavailability {
	return mesos.Unavailability{Start: mesos.TimeInfo{Nanoseconds: time.Now().Add(d).UnixNano()},
		Duration: &mesos.DurationInfo{Nanoseconds: int64(time.Hour)}}
}

// scheduleOf is a schedule of one window.
func scheduleOf(u mesos.Unavailability, machines ...mesos.MachineID) maintenance.Schedule {
	return maintenance.Schedule{Windows: []maintenance.Window{{MachineIDs: machines, Unavailability: u}}}
}

// until reads the events up to the first of type typ, which it returns with the events
// before it, heartbeats left out; the offers among them are kept for offer too.
func (s *sched) until(typ scheduler.Event_Type) (*scheduler.Event, []*scheduler.Event) {
	s.t.Helper()
	var before []*scheduler.Event
	deadline := time.After(15 * time.Second)
	for {
		select {
		case e, open := <-s.events:
			if !open {
				s.t.Fatalf("stream closed while waiting for %s", typ)
			}
			if e.Type == typ {
				return e, before
			}
			if e.Type == scheduler.Event_OFFERS {
				s.skippedOffers = append(s.skippedOffers, e)
			}
			if e.Type != scheduler.Event_HEARTBEAT {
				before = append(before, e)
			}
		case <-deadline:
			s.t.Fatalf("no %s event", typ)
		}
	}
}

// inverseOffer waits for an INVERSE_OFFERS event of one inverse offer.
func (s *sched) inverseOffer() (mesos.InverseOffer, []*scheduler.Event) {
	s.t.Helper()
	e, before := s.until(scheduler.Event_INVERSE_OFFERS)
	ios := e.GetInverseOffers().InverseOffers
	if len(ios) != 1 {
		s.t.Fatalf("INVERSE_OFFERS of %d inverse offers, want 1: %v", len(ios), ios)
	}
	return ios[0], before
}

// noEventOf fails when an event of type typ comes within d; offers are kept.
func (s *sched) noEventOf(typ scheduler.Event_Type, d time.Duration, why string) {
	s.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case e, open := <-s.events:
			if !open {
				s.t.Fatalf("%s: the stream closed", why)
			}
			if e.Type == typ {
				s.t.Fatalf("%s: got %s %v", why, typ, e)
			}
			if e.Type == scheduler.Event_OFFERS {
				s.skippedOffers = append(s.skippedOffers, e)
			}
		case <-deadline:
			return
		}
	}
}

// offersIn are the offers of the OFFERS events among events, by hostname.
func offersIn(events []*scheduler.Event) map[string]mesos.Offer {
	out := map[string]mesos.Offer{}
	for _, e := range events {
		for _, o := range e.GetOffers().GetOffers() {
			out[o.Hostname] = o
		}
	}
	return out
}

// A schedule rescinds the outstanding offers (Master::updateUnavailability runs for every
// machine the master knows, scheduled or not), the agent of a scheduled machine is
// offered again with its unavailability (Master::offer), and a framework with a task
// there gets an inverse offer of it (generateInverseOffers, Master::inverseOffer); one
// with nothing on the agent gets none.
func TestMaintenanceInverseOffersGoToTheUsersOfAnAgent(t *testing.T) {
	d := newDrain(t, Config{})
	b := newSched(t, d.m)
	b.subscribe(info())
	b.mustCall(calls.Suppress())
	io, before := d.schedule(t, d.unav)

	rescinded := map[string]bool{}
	for _, e := range before {
		if e.Type == scheduler.Event_RESCIND {
			rescinded[e.GetRescind().OfferID.Value] = true
		}
	}
	for host, o := range d.held {
		if !rescinded[o.ID.Value] {
			t.Errorf("the offer of %s (%s) was not rescinded: %v", host, o.ID.Value, before)
		}
	}
	again := offersIn(before)
	if o := again["agent-1"]; o.Unavailability == nil || !o.Unavailability.Equal(&d.unav) {
		t.Errorf("agent-1 offered again with unavailability %v, want %v", o.Unavailability, d.unav)
	}
	if o, ok := again["agent-2"]; !ok || o.Unavailability != nil {
		t.Errorf("agent-2, not scheduled, offered again: %v (offered: %v), want no unavailability", o.Unavailability, ok)
	}
	o1 := again["agent-1"]
	if io.FrameworkID.Value != d.a.id || io.GetAgentID().GetValue() != o1.AgentID.Value || !io.Unavailability.Equal(&d.unav) ||
		len(io.Resources) != 0 || !io.URL.Equal(o1.URL) || !strings.HasPrefix(io.OfferID.Value, d.m.ID()+"-O") || io.OfferID == o1.ID {
		t.Errorf("inverse offer %+v; want one of framework %s, agent-1 (%s), the unavailability %v, the offers' url %v, no resources, an id of the offers' sequence",
			io, d.a.id, o1.AgentID.Value, d.unav, o1.URL)
	}
	b.noEventOf(scheduler.Event_INVERSE_OFFERS, 400*time.Millisecond, "a framework with nothing on agent-1")

	fws := operatorCall(t, d.m.URL(), mediaJSON, mastercalls.GetFrameworks()).GetFrameworks
	for _, f := range fws.Frameworks {
		want := 0
		if f.FrameworkInfo.GetID().GetValue() == d.a.id {
			want = 1
		}
		if len(f.InverseOffers) != want || want == 1 && f.InverseOffers[0].OfferID != io.OfferID {
			t.Errorf("GET_FRAMEWORKS: %s has inverse offers %v, want %d", f.FrameworkInfo.GetID().GetValue(), f.InverseOffers, want)
		}
	}
}

// An answer is recorded for GET_MAINTENANCE_STATUS, with the time it came, the latest
// replacing the one before; a declined inverse offer comes again only once its filter
// (refuse_seconds) expires, an accepted one with a filter of 0 at the next allocation.
// Unknown ids are ignored, the call answered 202 all the same.
func TestMaintenanceInverseOfferAnswersAndFilters(t *testing.T) {
	d := newDrain(t, Config{})
	io, _ := d.schedule(t, d.unav)
	sent := time.Now()
	d.a.mustCall(calls.DeclineInverseOffers(io.OfferID).With(calls.RefuseSeconds(time.Second)))
	d.checkAnswer(t, allocator.InverseOfferStatus_DECLINE, sent)
	d.a.noEventOf(scheduler.Event_INVERSE_OFFERS, 500*time.Millisecond, "declined for a second")
	io2, _ := d.a.inverseOffer()
	if time.Since(sent) < time.Second || io2.OfferID == io.OfferID {
		t.Fatalf("inverse offer %s %v after the decline, want a new one after a second", io2.OfferID.Value, time.Since(sent))
	}

	sent = time.Now()
	d.a.mustCall(calls.AcceptInverseOffers(io2.OfferID, mesos.OfferID{Value: "no-such-offer"}).With(calls.RefuseSeconds(0)))
	d.checkAnswer(t, allocator.InverseOfferStatus_ACCEPT, sent)
	io3, _ := d.a.inverseOffer()
	if io3.OfferID == io2.OfferID || time.Since(sent) > 3*time.Second {
		t.Fatalf("inverse offer %s %v after accepting with no filter, want a new one at once", io3.OfferID.Value, time.Since(sent))
	}
	// An inverse offer answered already is no longer outstanding: nothing changes.
	d.a.mustCall(calls.DeclineInverseOffers(io2.OfferID))
	d.checkAnswer(t, allocator.InverseOfferStatus_ACCEPT, sent)
}

// checkAnswer checks that the maintenance status, in Go and through the operator API,
// has a's answer, given after sent, for agent-1's machine, and no other.
func (d *drain) checkAnswer(t *testing.T, answer allocator.InverseOfferStatus_Status, sent time.Time) {
	t.Helper()
	got := d.m.MaintenanceStatus()
	for _, media := range []string{mediaProtobuf, mediaJSON} {
		if r := operatorCall(t, d.m.URL(), media, mastercalls.GetMaintenanceStatus()); !r.GetGetMaintenanceStatus().Status.Equal(&got) {
			t.Errorf("%s: GET_MAINTENANCE_STATUS %+v, MaintenanceStatus %+v", media, r.GetMaintenanceStatus, got)
		}
	}
	if len(got.DrainingMachines) != 1 || len(got.DownMachines) != 0 || !got.DrainingMachines[0].ID.Equal(&d.machine) ||
		len(got.DrainingMachines[0].Statuses) != 1 {
		t.Fatalf("maintenance status %+v, want agent-1's machine draining with one answer", got)
	}
	st := got.DrainingMachines[0].Statuses[0]
	at := time.Unix(0, st.Timestamp.Nanoseconds)
	if st.GetStatus() != answer || st.FrameworkID.Value != d.a.id || at.Before(sent) || at.After(time.Now()) {
		t.Errorf("answer %+v at %v, want %s of %s after %v", st, at, answer, d.a.id, sent)
	}
}

// A new schedule rescinds the outstanding inverse offers of the machines it updates
// (RESCIND_INVERSE_OFFER), forgets the answers and the filters of their agents
// (HierarchicalAllocatorProcess::updateUnavailability), and inverse offers follow with
// the new unavailability; a schedule without the machine takes it back UP: offers of its
// agent without unavailability, and no inverse offer.
func TestMaintenanceRescheduleRescindsInverseOffers(t *testing.T) {
	d := newDrain(t, Config{})
	io, _ := d.schedule(t, d.unav)
	d.a.mustCall(calls.DeclineInverseOffers(io.OfferID).With(calls.RefuseSeconds(0)))
	io2, _ := d.a.inverseOffer()

	later := unavailability(2 * time.Hour)
	if err := d.m.UpdateMaintenanceSchedule(scheduleOf(later, d.machine)); err != nil {
		t.Fatal(err)
	}
	if r := d.a.next(scheduler.Event_RESCIND_INVERSE_OFFER).GetRescindInverseOffer(); r.InverseOfferID != io2.OfferID {
		t.Fatalf("RESCIND_INVERSE_OFFER of %s, want %s", r.InverseOfferID.Value, io2.OfferID.Value)
	}
	io3, _ := d.a.inverseOffer()
	if !io3.Unavailability.Equal(&later) {
		t.Fatalf("inverse offer after the new schedule: %v, want %v", io3.Unavailability, later)
	}
	if st := d.m.MaintenanceStatus(); len(st.DrainingMachines) != 1 || len(st.DrainingMachines[0].Statuses) != 0 {
		t.Fatalf("maintenance status after the new schedule: %+v, want the answer forgotten", st)
	}
	// A filter of an hour does not outlive a change of the unavailability.
	d.a.mustCall(calls.DeclineInverseOffers(io3.OfferID).With(calls.RefuseSeconds(time.Hour)))
	if err := d.m.UpdateMaintenanceSchedule(scheduleOf(d.unav, d.machine)); err != nil {
		t.Fatal(err)
	}
	io4, _ := d.a.inverseOffer()

	if err := d.m.UpdateMaintenanceSchedule(maintenance.Schedule{}); err != nil {
		t.Fatal(err)
	}
	if r := d.a.next(scheduler.Event_RESCIND_INVERSE_OFFER).GetRescindInverseOffer(); r.InverseOfferID != io4.OfferID {
		t.Fatalf("RESCIND_INVERSE_OFFER of %s, want %s", r.InverseOfferID.Value, io4.OfferID.Value)
	}
	d.a.skippedOffers = nil
	for _, o := range d.a.next(scheduler.Event_OFFERS).GetOffers().Offers {
		if o.Unavailability != nil {
			t.Errorf("offer of %s after the machine left the schedule: unavailability %v", o.Hostname, o.Unavailability)
		}
	}
	d.a.noEventOf(scheduler.Event_INVERSE_OFFERS, 400*time.Millisecond, "no machine scheduled")
	if st := d.m.MaintenanceStatus(); len(st.DrainingMachines)+len(st.DownMachines) != 0 {
		t.Errorf("maintenance status with no schedule: %+v", st)
	}
}

// --offer_timeout rescinds inverse offers too (Master::inverseOfferTimeout), and a new
// one follows; a framework whose stream breaks loses its inverse offers untold
// (Master::deactivate), and gets a new one when it subscribes again.
func TestMaintenanceInverseOfferTimeoutAndDisconnection(t *testing.T) {
	d := newDrain(t, Config{OfferTimeout: time.Second})
	io, _ := d.schedule(t, d.unav)
	if r := d.a.next(scheduler.Event_RESCIND_INVERSE_OFFER).GetRescindInverseOffer(); r.InverseOfferID != io.OfferID {
		t.Fatalf("RESCIND_INVERSE_OFFER of %s, want %s", r.InverseOfferID.Value, io.OfferID.Value)
	}
	io2, _ := d.a.inverseOffer()
	if io2.OfferID == io.OfferID {
		t.Fatalf("inverse offer %s again after its timeout", io.OfferID.Value)
	}

	d.m.DropStream(d.a.id)
	if msg := d.a.streamClosed(); msg != "" {
		t.Fatalf("dropped stream: ERROR %q", msg)
	}
	d.a.subscribe(info(mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	io3, before := d.a.inverseOffer()
	for _, e := range before {
		if e.Type == scheduler.Event_RESCIND_INVERSE_OFFER {
			t.Errorf("RESCIND_INVERSE_OFFER after subscribing again: %v", e)
		}
	}
	if io3.OfferID == io2.OfferID {
		t.Fatalf("inverse offer %s again after subscribing again, want a new one", io2.OfferID.Value)
	}
}
