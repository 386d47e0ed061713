package framework

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
	"github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/k8sm/k8sm/internal/agentnode"
)

func window(start time.Time, d time.Duration) mesos.Unavailability {
	return mesos.Unavailability{Start: mesos.TimeInfo{Nanoseconds: start.UnixNano()}, Duration: &mesos.DurationInfo{Nanoseconds: int64(d)}}
}

// inverseOffersTaken records the inverse offers a scheduler is handed.
type inverseOffersTaken struct{ got []mesos.InverseOffer }

func (*inverseOffersTaken) Offers(context.Context, *Driver, []mesos.Offer)                        {}
func (*inverseOffersTaken) Rescind(context.Context, mesos.OfferID)                                {}
func (*inverseOffersTaken) Update(context.Context, mesos.TaskStatus, func(context.Context) error) {}
func (*inverseOffersTaken) Subscribed(context.Context, *Driver)                                   {}
func (s *inverseOffersTaken) InverseOffers(_ context.Context, _ *Driver, o []mesos.InverseOffer) {
	s.got = append(s.got, o...)
}

// An agent's maintenance window is what its latest offer or inverse offer said: an offer
// without one clears it, and each change wakes the operator (the Node shows it).
func TestAgentsWindowFromOffersAndInverseOffers(t *testing.T) {
	start := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	sched := &inverseOffersTaken{}
	notified := 0
	d := &Driver{Connection: &Connection{}, sched: sched, notify: func() { notified++ }, status: Status{Agents: map[string]Agent{}}}
	h := driverHandler{d}
	offer := func(u *mesos.Unavailability) mesos.Offer {
		return mesos.Offer{ID: mesos.OfferID{Value: "o"}, AgentID: mesos.AgentID{Value: "a1"}, Hostname: "h1", Unavailability: u}
	}
	h.Offers(context.Background(), []mesos.Offer{offer(nil)})
	if d.Status().Agents["a1"].Unavailability != nil || notified != 1 {
		t.Fatalf("a new agent: window %v, notified %d; want none, once", d.Status().Agents["a1"].Unavailability, notified)
	}
	w := window(start, time.Hour)
	h.Offers(context.Background(), []mesos.Offer{offer(&w)})
	if got := d.Status().Agents["a1"].Unavailability; !got.Equal(&agentnode.Unavailability{Start: start, Duration: time.Hour}) || notified != 2 {
		t.Fatalf("an offer with a window: %v, notified %d; want the window, twice", got, notified)
	}
	h.Offers(context.Background(), []mesos.Offer{offer(&w)})
	if notified != 2 {
		t.Errorf("the same window again woke the operator")
	}
	h.Offers(context.Background(), []mesos.Offer{offer(nil)})
	if got := d.Status().Agents["a1"].Unavailability; got != nil || notified != 3 {
		t.Fatalf("an offer without a window: %v, notified %d; want none, three times", got, notified)
	}
	later := window(start.Add(time.Hour), 0)
	h.InverseOffers(context.Background(), []mesos.InverseOffer{
		{OfferID: mesos.OfferID{Value: "i1"}, AgentID: &mesos.AgentID{Value: "a1"}, Unavailability: later},
		{OfferID: mesos.OfferID{Value: "i2"}, AgentID: &mesos.AgentID{Value: "never-offered"}, Unavailability: later},
	})
	if got := d.Status().Agents["a1"].Unavailability; !got.Equal(&agentnode.Unavailability{Start: start.Add(time.Hour)}) || notified != 4 {
		t.Fatalf("an inverse offer: %v, notified %d; want its window, four times", got, notified)
	}
	if _, ok := d.Status().Agents["never-offered"]; ok {
		t.Error("an inverse offer made an agent known")
	}
	if len(sched.got) != 2 {
		t.Errorf("the scheduler was handed %d inverse offers; want both", len(sched.got))
	}
}

// The master's maintenance schedule gives each agent's window, matched by hostname (in
// any case) and ip as Mesos matches an agent's machine, unless an offer or inverse offer
// said otherwise since it was asked; an agent not in it has none.
func TestMaintenanceScheduleSetsAndClearsWindows(t *testing.T) {
	start := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		resp := master.Response{Type: master.Response_GET_MAINTENANCE_SCHEDULE, GetMaintenanceSchedule: &master.Response_GetMaintenanceSchedule{
			Schedule: maintenance.Schedule{Windows: []maintenance.Window{{
				MachineIDs:     []mesos.MachineID{{Hostname: strp("HOST-1"), IP: strp("10.0.0.1")}, {Hostname: strp("host-3"), IP: strp("10.0.0.9")}, {Hostname: strp("host-4"), IP: strp("10.0.0.4")}},
				Unavailability: window(start, time.Hour),
			}}}}}
		b, _ := resp.Marshal()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	c := &Connection{cfg: Config{RequestTimeout: 5 * time.Second}, operator: srv.URL}
	windows, err := c.GetMaintenanceSchedule(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	asked := time.Now()
	was := &agentnode.Unavailability{Start: start.Add(-time.Hour)}
	d := &Driver{Connection: c, status: Status{Agents: map[string]Agent{
		"scheduled":         {ID: "scheduled", Hostname: "host-1", IP: "10.0.0.1", unavailabilityAt: asked.Add(-time.Minute)},
		"another-ip":        {ID: "another-ip", Hostname: "host-3", IP: "10.0.0.3", unavailabilityAt: asked.Add(-time.Minute)},
		"cancelled":         {ID: "cancelled", Hostname: "host-2", IP: "10.0.0.2", Unavailability: was, unavailabilityAt: asked.Add(-time.Minute)},
		"offered-since":     {ID: "offered-since", Hostname: "host-5", IP: "10.0.0.5", Unavailability: was, unavailabilityAt: asked.Add(time.Second)},
		"offered-since-too": {ID: "offered-since-too", Hostname: "host-4", IP: "10.0.0.4", unavailabilityAt: asked.Add(time.Second)},
	}}}
	d.recordSchedule(windows, nil, asked)
	want := map[string]*agentnode.Unavailability{
		"scheduled": {Start: start, Duration: time.Hour}, "another-ip": nil, "cancelled": nil, "offered-since": was, "offered-since-too": nil,
	}
	for id, w := range want {
		if got := d.Status().Agents[id].Unavailability; !got.Equal(w) {
			t.Errorf("%s: window %v; want %v", id, got, w)
		}
	}
	if err := d.Status().ScheduleError; err != nil {
		t.Errorf("the schedule was read, but the status says %v", err)
	}
	// Not asked (the subscription ended), or stopping: nothing to show.
	for _, err := range []error{ErrNotSubscribed, context.Canceled} {
		d.recordSchedule(nil, err, time.Now())
		if got := d.Status().ScheduleError; got != nil {
			t.Errorf("a read not made (%v) shows as %v", err, got)
		}
	}
	d.recordSchedule(nil, context.DeadlineExceeded, time.Now().Add(time.Hour))
	if d.Status().Agents["scheduled"].Unavailability == nil {
		t.Error("a schedule that could not be read cleared a window")
	}
	if err := d.Status().ScheduleError; err != context.DeadlineExceeded {
		t.Errorf("the schedule could not be read, but the status says %v", err)
	}
	d.recordSchedule(windows, nil, time.Now())
	if err := d.Status().ScheduleError; err != nil {
		t.Errorf("the schedule was read again, but the status says %v", err)
	}
}

func strp(s string) *string { return &s }

// An agent the master's list makes known (one that never offered: fully used, its offers
// suppressed, after a start) takes its window from the schedule read just before, so its
// Node's taint does not go off and back on; and a read of the schedule that answers after
// a later one does not bring back a window the later one found gone.
func TestAListedAgentTakesItsWindowFromTheSchedule(t *testing.T) {
	start := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	w := &agentnode.Unavailability{Start: start, Duration: time.Hour}
	d := &Driver{Connection: &Connection{}, status: Status{Subscribed: true, Subscription: 1, Agents: map[string]Agent{}}}
	asked := time.Now()
	d.recordSchedule(map[string]*agentnode.Unavailability{machineKey("host-1", "10.0.0.1"): w}, nil, asked)
	m := MasterAgent{ID: "a1", Hostname: "host-1", IP: "10.0.0.1", Active: true, Total: []mesos.Resource{scalar("cpus", 4)}}
	d.recordAgents([]MasterAgent{m}, nil, asked, 1)
	if got := d.Status().Agents["a1"].Unavailability; !got.Equal(w) {
		t.Fatalf("the listed agent's window is %v; want the schedule's %v", got, w)
	}

	d.recordSchedule(map[string]*agentnode.Unavailability{}, nil, asked.Add(time.Second))   // cancelled
	d.recordSchedule(map[string]*agentnode.Unavailability{}, nil, asked.Add(2*time.Second)) // still
	d.recordSchedule(map[string]*agentnode.Unavailability{machineKey("host-1", "10.0.0.1"): w}, nil, asked.Add(1500*time.Millisecond))
	if got := d.Status().Agents["a1"].Unavailability; got != nil {
		t.Errorf("an older read of the schedule brought back the window %v", got)
	}
}

// Mesos answers GET_MAINTENANCE_SCHEDULE without the machines its ACLs hide from the
// principal, refusing nothing. A window the schedule took off that the agent's offers
// show again, unchanged, a second time is taken for hidden: from then on the schedule
// clears no window (offers still do, and it still adds and changes them), and the status
// says so. Once is an offer sent before the window was cancelled, read after; a read
// that shows the machine's window starts the count again.
func TestAScheduleThatHidesAMachineClearsNoWindow(t *testing.T) {
	start := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	d := &Driver{Connection: &Connection{}, notify: func() {}, status: Status{Agents: map[string]Agent{}}}
	h := driverHandler{d}
	ip := "10.0.0.1"
	w := window(start, time.Hour)
	offer := func(u *mesos.Unavailability) {
		h.Offers(context.Background(), []mesos.Offer{{ID: mesos.OfferID{Value: "o"}, AgentID: mesos.AgentID{Value: "a1"}, Hostname: "host-1",
			URL: &mesos.URL{Address: mesos.Address{IP: &ip, Port: 5051}}, Unavailability: u}})
	}
	inverse := func() {
		h.InverseOffers(context.Background(), []mesos.InverseOffer{{OfferID: mesos.OfferID{Value: "i"}, AgentID: &mesos.AgentID{Value: "a1"}, Unavailability: w}})
	}
	empty := func() { d.recordSchedule(map[string]*agentnode.Unavailability{}, nil, time.Now()) }
	scheduled := &agentnode.Unavailability{Start: start, Duration: time.Hour}
	moved := &agentnode.Unavailability{Start: start.Add(time.Hour), Duration: time.Hour}
	steps := []struct {
		name   string
		do     func()
		window *agentnode.Unavailability
		hidden bool
	}{
		{"an offer shows the window", func() { offer(&w) }, scheduled, false},
		{"the schedule leaves it out", empty, nil, false},
		{"an inverse offer shows it again (sent before the read, say)", inverse, scheduled, false},
		{"the schedule shows the machine again: it hides nothing", func() {
			d.recordSchedule(map[string]*agentnode.Unavailability{machineKey("host-1", ip): scheduled}, nil, time.Now())
		}, scheduled, false},
		{"the window is cancelled", empty, nil, false},
		{"and scheduled again, the same", func() {
			d.recordSchedule(map[string]*agentnode.Unavailability{machineKey("host-1", ip): scheduled}, nil, time.Now())
		}, scheduled, false},
		{"an offer shows it, as the schedule does", func() { offer(&w) }, scheduled, false},
		{"the schedule leaves it out", empty, nil, false},
		{"an inverse offer shows it again", inverse, scheduled, false},
		{"the schedule leaves it out again", empty, nil, false},
		{"an offer shows it a second time: hidden", func() { offer(&w) }, scheduled, true},
		{"the schedule leaves it out: kept", empty, scheduled, true},
		{"the schedule moves it", func() {
			d.recordSchedule(map[string]*agentnode.Unavailability{machineKey("host-1", ip): moved}, nil, time.Now())
		}, moved, true},
		{"an offer without a window clears it", func() { offer(nil) }, nil, true},
	}
	for _, s := range steps {
		s.do()
		st := d.Status()
		if got := st.Agents["a1"].Unavailability; !got.Equal(s.window) {
			t.Fatalf("%s: window %v; want %v", s.name, got, s.window)
		}
		if hidden := st.ScheduleError != nil; hidden != s.hidden {
			t.Fatalf("%s: schedule error %v; want one: %v", s.name, st.ScheduleError, s.hidden)
		}
	}
	if err := d.Status().ScheduleError.Error(); !strings.Contains(err, "get_maintenance_schedules") || !strings.Contains(err, "host-1") {
		t.Errorf("the error does not name the agent and the ACL: %s", err)
	}
}
