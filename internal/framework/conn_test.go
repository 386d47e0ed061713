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
