package framework

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// Calls sent at once keep their connections to the master for the calls after them: the
// update workers acknowledge concurrently, and with mesos-go's 2 idle connections each
// round of calls beyond the second dialed the master again.
func TestConcurrentCallsKeepTheirConnections(t *testing.T) {
	const parallel, rounds = 8, 10
	m := &fakeMaster{t: t, streamID: "stream-1", events: make(chan *scheduler.Event, 16),
		got: make(chan *scheduler.Call, 1+parallel*rounds), delay: 20 * time.Millisecond}
	srv := httptest.NewUnstartedServer(m)
	var conns atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	h := newRecorder()
	c, err := New(Config{Master: srv.URL, FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm", Roles: []string{"k8s"}}}, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx := runConn(t, c)
	<-h.got // Subscribed

	for range rounds {
		var wg sync.WaitGroup
		for range parallel {
			wg.Go(func() {
				if err := c.Call(ctx, &scheduler.Call{Type: scheduler.Call_REVIVE}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	// The subscription's connection, and one per call in flight at once.
	if n := conns.Load(); n > 1+parallel {
		t.Errorf("%d rounds of %d calls at once opened %d connections to the master, want at most %d", rounds, parallel, n, 1+parallel)
	}
}
