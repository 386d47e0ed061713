package framework

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// observed is an Observer that lists what it was told.
type observed struct {
	mu  sync.Mutex
	got []string
}

func (o *observed) Subscribed(reconnect bool)  { o.add(fmt.Sprintf("Subscribed(%v)", reconnect)) }
func (o *observed) Disconnected(reason string) { o.add("Disconnected(" + reason + ")") }
func (o *observed) Stopped()                   { o.add("Stopped") }

func (o *observed) add(s string) {
	o.mu.Lock()
	o.got = append(o.got, s)
	o.mu.Unlock()
}

func (o *observed) list() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.got...)
}

// waitFor waits until the observer was told n things.
func (o *observed) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(o.list()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("observer told %v, want %d calls", o.list(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return o.list()
}

// The Driver tells its Observer of each subscription (the second one a reconnect), of
// the lost stream in between and of its stop; without an Observer it runs as well.
func TestDriverTellsObserver(t *testing.T) {
	m := startSim(t)

	obs := &observed{}
	failover := 60.0 // else the master removes the framework when its stream drops
	cfg := Config{Master: m.URL(), FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm", FailoverTimeout: &failover},
		MinBackoff: 10 * time.Millisecond, AgentPollInterval: -1, Observer: obs}
	d, err := NewDriver(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	obs.waitFor(t, 1)
	m.DropStream(d.FrameworkID())
	obs.waitFor(t, 3)
	d.Stop()
	want := []string{"Subscribed(false)", "Disconnected(" + ReasonStreamClosed + ")", "Subscribed(true)", "Stopped"}
	if got := obs.list(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("observer told %v, want %v", got, want)
	}

	cfg.Observer = nil
	quiet, err := NewDriver(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	quiet.Start()
	deadline := time.Now().Add(10 * time.Second)
	for !quiet.Subscribed() {
		if time.Now().After(deadline) {
			t.Fatal("a Driver without an Observer did not subscribe")
		}
		time.Sleep(10 * time.Millisecond)
	}
	quiet.Stop()
}

// subscribe makes c hold a subscription as a master's SUBSCRIBED event does, for a test
// that calls a Driver's handler itself; ended ends it.
func subscribe(c *Connection) {
	none := calls.CallerFunc(func(context.Context, *scheduler.Call) (mesos.Response, error) {
		return nil, errors.New("a test's subscription sends nothing")
	})
	c.subscribed(attempt{master: "http://127.0.0.1:1", answered: "http://127.0.0.1:1", caller: none}, &scheduler.Event_Subscribed{FrameworkID: &mesos.FrameworkID{Value: "fw-1"}})
}

// Reconciled belongs to one subscription: a round of reconciliation that began before
// the framework subscribed again (or while it was not subscribed) does not mark it.
func TestReconciledBelongsToItsSubscription(t *testing.T) {
	d, err := NewDriver(Config{Master: "http://127.0.0.1:1", FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, h := context.Background(), driverHandler{d}
	subscribe(d.Connection)
	h.Subscribed(ctx, "fw-1", nil)
	first := d.Subscription()
	d.ended()
	h.Disconnected(ctx, errors.New("stream closed"))
	d.SetReconciled(first)
	if d.Status().Reconciled {
		t.Fatal("reconciled while not subscribed")
	}
	subscribe(d.Connection)
	h.Subscribed(ctx, "fw-1", nil)
	d.SetReconciled(first)
	if d.Status().Reconciled {
		t.Fatal("a round of the earlier subscription marked the current one reconciled")
	}
	d.SetReconciled(d.Subscription())
	if !d.Status().Reconciled {
		t.Fatal("the current subscription's round did not mark it reconciled")
	}
}

// subscriptionSeen is an Observer that notes, as each subscription ends, the number the
// Driver gives for the subscription held then.
type subscriptionSeen struct {
	observed
	d    *Driver
	seen []uint64
}

func (o *subscriptionSeen) Disconnected(reason string) {
	o.mu.Lock()
	o.seen = append(o.seen, o.d.Subscription())
	o.mu.Unlock()
	o.observed.Disconnected(reason)
}

// Offers are valid on the subscription they came on alone: a Driver names the one it
// holds (none while disconnected or stopped) by a number no other subscription of any
// Driver of the process has, and refuses to accept or decline offers of another one.
func TestOffersGoOnlyOnTheirSubscription(t *testing.T) {
	m := startSim(t)
	failover := 60.0
	start := func(obs Observer) *Driver {
		t.Helper()
		cfg := Config{Master: m.URL(), FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm", FailoverTimeout: &failover},
			MinBackoff: 10 * time.Millisecond, AgentPollInterval: -1, Observer: obs}
		d, err := NewDriver(cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	obs := &subscriptionSeen{}
	d := start(obs)
	obs.d = d
	d.Start()
	obs.waitFor(t, 1)
	first := d.Subscription()
	m.DropStream(d.FrameworkID())
	obs.waitFor(t, 3) // Disconnected, Subscribed again
	second := d.Subscription()
	obs.mu.Lock()
	during := obs.seen
	obs.mu.Unlock()
	if first == 0 || second == 0 || second == first || len(during) != 1 || during[0] != 0 {
		t.Fatalf("subscriptions %d then %d, %v while disconnected; want two numbers, none while disconnected", first, second, during)
	}
	ctx := context.Background()
	offers := []mesos.OfferID{{Value: "o-1"}}
	if err := d.Launch(ctx, first, offers, []mesos.TaskInfo{{Name: "t", TaskID: mesos.TaskID{Value: "t"}}}, 0); !errors.Is(err, ErrSubscriptionEnded) {
		t.Fatalf("ACCEPT of an ended subscription's offers: %v, want ErrSubscriptionEnded", err)
	}
	if err := d.Decline(ctx, first, offers, 0); !errors.Is(err, ErrSubscriptionEnded) {
		t.Fatalf("DECLINE of an ended subscription's offers: %v, want ErrSubscriptionEnded", err)
	}
	if err := d.Decline(ctx, second, offers, 0); err != nil {
		t.Fatalf("DECLINE of the current subscription's offers: %v", err)
	}

	other := start(nil)
	other.Start()
	defer other.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for !other.Subscribed() {
		if time.Now().After(deadline) {
			t.Fatal("the second Driver did not subscribe")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := other.Subscription(); n == first || n == second {
		t.Fatalf("another Driver's subscription is number %d too", n)
	}
	if err := other.Decline(ctx, second, offers, 0); !errors.Is(err, ErrSubscriptionEnded) {
		t.Fatalf("DECLINE of another Driver's offers: %v, want ErrSubscriptionEnded", err)
	}
	d.Stop()
	if n := d.Subscription(); n != 0 {
		t.Fatalf("a stopped Driver names subscription %d", n)
	}
	if err := d.Decline(ctx, second, offers, 0); !errors.Is(err, ErrSubscriptionEnded) {
		t.Fatalf("DECLINE by a stopped Driver: %v, want ErrSubscriptionEnded", err)
	}
}

// Mesos's ERROR refuses one stream: the Driver shows it while it is the latest word on
// the subscription, and no longer once an attempt fails for another reason, as when the
// master is then unreachable. A removal stays: Mesos refuses every subscription of a
// removed framework. Only Mesos's own words for a removal are one: a refusal that
// merely holds "removed" or "completed" (a role's name, an authorizer's failure) may
// pass, and is shown while it is the latest word only.
func TestRefusalLastsUntilTheNextAttempt(t *testing.T) {
	for _, tc := range []struct {
		refusal string
		kept    bool
	}{
		{"Framework failed over", false},
		{"Changing framework's principal is not allowed.", false},
		{"Not authorized to register a framework with role 'jobs-completed'", false},
		{"Authorization failure: could not create ObjectApprovers for a framework: the policy was removed", false},
		{"Framework has been removed", true},
	} {
		t.Run(tc.refusal, func(t *testing.T) {
			got := refusedThenUnreachable(t, tc.refusal)
			if reason(got[0].LastError) != ReasonSubscribeRefused || got[0].Refused != tc.refusal {
				t.Fatalf("after the ERROR: LastError %v, Refused %q; want the refusal shown", got[0].LastError, got[0].Refused)
			}
			want := ""
			if tc.kept {
				want = tc.refusal
			}
			if reason(got[1].LastError) != ReasonMasterUnreachable || got[1].Refused != want {
				t.Fatalf("then: LastError %v, Refused %q; want the master unreachable, Refused %q", got[1].LastError, got[1].Refused, want)
			}
		})
	}
}

// reason is the Reason of a SubscribeError.
func reason(err error) string {
	var se *SubscribeError
	if errors.As(err, &se) {
		return se.Reason
	}
	return ""
}

// refusedThenUnreachable runs a Driver whose master refuses its subscription with an
// ERROR and is unreachable after, and returns the Driver's status after each of the two
// attempts' ends.
func refusedThenUnreachable(t *testing.T, refusal string) []Status {
	t.Helper()
	m, srv := newFakeMaster(t)
	var mu sync.Mutex
	var ended []Status // the status after each attempt that failed or ended
	var d *Driver
	notify := func() {
		mu.Lock()
		defer mu.Unlock()
		if st := d.Status(); st.LastError != nil {
			ended = append(ended, st)
		}
	}
	cfg := Config{Master: srv.URL, FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm"},
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 10 * time.Millisecond, AgentPollInterval: -1}
	d, err := NewDriver(cfg, nil, notify)
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	defer d.Stop()
	m.nextCall(t, scheduler.Call_SUBSCRIBE)
	// No new connection reaches the master from now on; the stream stays.
	_ = srv.Listener.Close()
	m.events <- &scheduler.Event{Type: scheduler.Event_ERROR, Error: &scheduler.Event_Error{Message: refusal}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := slices.Clone(ended)
		mu.Unlock()
		if len(got) >= 2 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("statuses %v, want the refusal and an unreachable master", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// reserved is a scalar reserved to role, as the operator API lists it (the role and a
// static reservation).
func reserved(name string, v float64, role string) mesos.Resource {
	r := scalar(name, v)
	r.Role = &role
	r.Reservations = []mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_STATIC.Enum(), Role: &role}}
	return r
}

// An agent's capacity is its whole total but its revocable resources, which the framework
// never takes (it has no REVOCABLE_RESOURCES) and which move with the agent's estimate.
// What its Node may allocate is what the framework's roles may ever be offered: Mesos
// offers a role the unreserved resources and those reserved to it or to an ancestor
// (resources.cpp, isAllocatableTo), never another role's, and a task takes no volume nor
// mount disk (placement's plain resources). An offer of the agent changes neither figure.
func TestRecordAgentsCountsWhatTheRolesMayBeOffered(t *testing.T) {
	revocable := scalar("cpus", 2)
	revocable.Revocable = &mesos.Resource_RevocableInfo{}
	mount := scalar("disk", 1000)
	mount.Disk = &mesos.Resource_DiskInfo{Source: &mesos.Resource_DiskInfo_Source{Type: mesos.Resource_DiskInfo_Source_MOUNT}}
	total := mesos.Resources{scalar("cpus", 4), reserved("cpus", 28, "spark"), reserved("cpus", 8, "spark/etl"), revocable,
		scalar("mem", 1024), scalar("disk", 100), mount}
	for _, tc := range []struct {
		roles           []string
		wantCPUs, wantD float64
	}{
		{nil, 4, 100},
		{[]string{"*"}, 4, 100},
		{[]string{"spark"}, 32, 100},
		{[]string{"spark/etl"}, 40, 100},
		{[]string{"web", "spark"}, 32, 100},
		{[]string{"web"}, 4, 100},
	} {
		t.Run(fmt.Sprint(tc.roles), func(t *testing.T) {
			d := &Driver{Connection: &Connection{cfg: Config{FrameworkInfo: mesos.FrameworkInfo{Roles: tc.roles}}},
				status: Status{Agents: map[string]Agent{}}}
			d.recordAgents([]MasterAgent{{ID: "a1", Hostname: "h1", Total: total, Active: true}}, nil, time.Now(), 0)
			check := func(when string) {
				t.Helper()
				a := d.Status().Agents["a1"]
				if got := scalarOf(a.Capacity, "cpus"); got != 40 {
					t.Errorf("%s: capacity cpus = %v, want 40 (the total but the 2 revocable)", when, got)
				}
				if got := scalarOf(a.Capacity, "disk"); got != 1100 {
					t.Errorf("%s: capacity disk = %v, want 1100", when, got)
				}
				if got := scalarOf(a.Allocatable, "cpus"); got != tc.wantCPUs {
					t.Errorf("%s: allocatable cpus = %v, want %v", when, got, tc.wantCPUs)
				}
				if got, gotD := scalarOf(a.Allocatable, "mem"), scalarOf(a.Allocatable, "disk"); got != 1024 || gotD != tc.wantD {
					t.Errorf("%s: allocatable mem, disk = %v, %v, want 1024, %v", when, got, gotD, tc.wantD)
				}
			}
			check("listed")
			driverHandler{d}.Offers(context.Background(), []mesos.Offer{{ID: mesos.OfferID{Value: "o1"}, AgentID: mesos.AgentID{Value: "a1"},
				Hostname: "h1", Resources: []mesos.Resource{scalar("cpus", 1), scalar("mem", 64)}}})
			check("after an offer")
		})
	}
}

// Where the master does not list its agents, both figures are the most the agent offered:
// all of an offer is for the framework's roles.
func TestOffersAloneGiveWhatTheAgentOffered(t *testing.T) {
	d := &Driver{Connection: &Connection{}, status: Status{Agents: map[string]Agent{}}}
	offer := func(id string, res ...mesos.Resource) {
		driverHandler{d}.Offers(context.Background(), []mesos.Offer{{ID: mesos.OfferID{Value: id}, AgentID: mesos.AgentID{Value: "a1"},
			Hostname: "h1", Resources: res}})
	}
	offer("o1", scalar("cpus", 3), reserved("cpus", 1, "*"))
	offer("o2", scalar("cpus", 1))
	a := d.Status().Agents["a1"]
	if c, al := scalarOf(a.Capacity, "cpus"), scalarOf(a.Allocatable, "cpus"); c != 4 || al != 4 {
		t.Errorf("capacity, allocatable cpus = %v, %v; want the most offered, 4, 4", c, al)
	}
}

// scalarOf is the amount of the scalar name in a list made by the Driver (0 if none).
func scalarOf(res mesos.Resources, name string) float64 {
	for _, r := range res {
		if r.Name == name {
			return r.GetScalar().GetValue()
		}
	}
	return 0
}
