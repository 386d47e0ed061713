package framework

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// recorder is a Handler that keeps what it was told.
type recorder struct {
	mu           sync.Mutex
	disconnected []error
	subscribed   []string
	got          chan struct{}
}

func newRecorder() *recorder { return &recorder{got: make(chan struct{}, 100)} }

func (r *recorder) Subscribed(_ context.Context, id string, _ *mesos.MasterInfo) {
	r.mu.Lock()
	r.subscribed = append(r.subscribed, id)
	r.mu.Unlock()
	r.got <- struct{}{}
}
func (r *recorder) Disconnected(_ context.Context, err error) {
	r.mu.Lock()
	r.disconnected = append(r.disconnected, err)
	r.mu.Unlock()
	r.got <- struct{}{}
}
func (r *recorder) Offers(context.Context, []mesos.Offer)                                 {}
func (r *recorder) Rescind(context.Context, mesos.OfferID)                                {}
func (r *recorder) Update(context.Context, mesos.TaskStatus, func(context.Context) error) {}
func (r *recorder) Failure(context.Context, *scheduler.Event_Failure)                     {}
func (r *recorder) Error(context.Context, string)                                         {}

// runConn runs a connection until the test ends and returns its context.
func runConn(t *testing.T, c *Connection) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return ctx
}

func TestUnreachableMasterIsReported(t *testing.T) {
	rec := newRecorder()
	c, err := New(Config{
		Master:        "http://127.0.0.1:1",
		FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm"},
		MinBackoff:    10 * time.Millisecond,
	}, rec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	select {
	case <-rec.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no Disconnected call for an unreachable master")
	}
	cancel()
	<-done
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var se *SubscribeError
	if len(rec.disconnected) == 0 || !errors.As(rec.disconnected[0], &se) || se.Reason != ReasonMasterUnreachable {
		t.Fatalf("want a %s error, got %v", ReasonMasterUnreachable, rec.disconnected)
	}
	if c.Subscribed() {
		t.Fatal("Subscribed() is true without a master")
	}
}

// swappingDetector names one master and, when the leader changes (swap), closes
// Changed's channel and hands out a new one.
type swappingDetector struct {
	url     string
	mu      sync.Mutex
	changed chan struct{}
}

func (d *swappingDetector) Leader(context.Context) (string, error) { return d.url, nil }
func (d *swappingDetector) Failed(string)                          {}
func (d *swappingDetector) Close()                                 {}
func (d *swappingDetector) Changed() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.changed
}
func (d *swappingDetector) swap() {
	d.mu.Lock()
	defer d.mu.Unlock()
	close(d.changed)
	d.changed = make(chan struct{})
}

// leaderChangesDuringSubscribed is a recorder during whose first Subscribed the leader
// changes.
type leaderChangesDuringSubscribed struct {
	*recorder
	det  *swappingDetector
	once sync.Once
}

func (h *leaderChangesDuringSubscribed) Subscribed(ctx context.Context, id string, mi *mesos.MasterInfo) {
	h.once.Do(h.det.swap)
	h.recorder.Subscribed(ctx, id, mi)
}

// A leader change that comes while an event is handled ends the subscription all the
// same: the subscription watches the change of the leader it subscribed to.
func TestALeaderChangeDuringAnEventIsSeen(t *testing.T) {
	_, srv := newFakeMaster(t)
	det := &swappingDetector{url: srv.URL, changed: make(chan struct{})}
	h := &leaderChangesDuringSubscribed{recorder: newRecorder(), det: det}
	c, err := New(Config{Master: srv.URL, FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm"}, MinBackoff: time.Hour}, h)
	if err != nil {
		t.Fatal(err)
	}
	c.detector = det
	runConn(t, c)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case <-h.got:
		case <-deadline:
			t.Fatal("the subscription did not end")
		}
		h.mu.Lock()
		dropped := h.disconnected
		h.mu.Unlock()
		if len(dropped) == 0 {
			continue
		}
		var se *SubscribeError
		if !errors.As(dropped[0], &se) || se.Reason != ReasonLeaderChanged {
			t.Fatalf("the subscription ended with %v, want %s", dropped[0], ReasonLeaderChanged)
		}
		return
	}
}
