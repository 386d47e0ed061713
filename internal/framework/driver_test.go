package framework

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/k8sm/k8sm/internal/mesossim"
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
	m, err := mesossim.New(mesossim.Config{Agents: 1, HeartbeatInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer m.Close()

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

// Reconciled belongs to one subscription: a round of reconciliation that began before
// the framework subscribed again (or while it was not subscribed) does not mark it.
func TestReconciledBelongsToItsSubscription(t *testing.T) {
	d, err := NewDriver(Config{Master: "http://127.0.0.1:1", FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, h := context.Background(), driverHandler{d}
	h.Subscribed(ctx, "fw-1", nil)
	first := d.Subscription()
	h.Disconnected(ctx, errors.New("stream closed"))
	d.SetReconciled(first)
	if d.Status().Reconciled {
		t.Fatal("reconciled while not subscribed")
	}
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
