package framework

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/recordio"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// fakeMaster is the smallest scheduler endpoint: it answers SUBSCRIBE with a stream it
// controls and records every other call.
type fakeMaster struct {
	t      *testing.T
	status int           // SUBSCRIBE status when not 200
	delay  time.Duration // how long a call other than SUBSCRIBE waits for its answer
	// info is the MasterInfo of SUBSCRIBED; nil names 127.0.0.1:5050.
	info *mesos.MasterInfo

	mu       sync.Mutex
	calls    []*scheduler.Call
	auth     []string
	streamID string
	events   chan *scheduler.Event
	got      chan *scheduler.Call
}

func newFakeMaster(t *testing.T) (*fakeMaster, *httptest.Server) {
	m := &fakeMaster{t: t, streamID: "stream-1", events: make(chan *scheduler.Event, 16), got: make(chan *scheduler.Call, 64)}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return m, srv
}

func (m *fakeMaster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	codec := codecs.ByMediaType[codecs.MediaTypeProtobuf]
	if r.Header.Get("Content-Type") != string(codec.Type) {
		http.Error(w, "want protobuf", http.StatusUnsupportedMediaType)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var call scheduler.Call
	if err := call.Unmarshal(body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	m.calls = append(m.calls, &call)
	m.auth = append(m.auth, r.Header.Get("Authorization"))
	m.mu.Unlock()
	m.got <- &call

	if call.GetType() != scheduler.Call_SUBSCRIBE {
		time.Sleep(m.delay)
		if r.Header.Get("Mesos-Stream-Id") != m.streamID {
			http.Error(w, "bad stream id", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if m.status != 0 {
		http.Error(w, "refused", m.status)
		return
	}
	w.Header().Set("Content-Type", string(codec.Type))
	w.Header().Set("Mesos-Stream-Id", m.streamID)
	w.WriteHeader(http.StatusOK)
	flusher := w.(http.Flusher)
	id := "fw-1"
	if call.FrameworkID != nil {
		id = call.FrameworkID.Value
	}
	hb, port := 0.05, uint32(5050)
	info := m.info
	if info == nil {
		info = &mesos.MasterInfo{ID: "m", Port: &port, Address: &mesos.Address{IP: proto("127.0.0.1"), Port: 5050}}
	}
	write := func(e *scheduler.Event) bool {
		data, err := e.Marshal()
		if err != nil {
			m.t.Error(err)
			return false
		}
		var buf bytes.Buffer
		if err := recordio.NewWriter(&buf).WriteFrame(data); err != nil {
			return false
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return false
		}
		flusher.Flush()
		return true
	}
	write(&scheduler.Event{Type: scheduler.Event_SUBSCRIBED, Subscribed: &scheduler.Event_Subscribed{
		FrameworkID: &mesos.FrameworkID{Value: id}, HeartbeatIntervalSeconds: &hb,
		MasterInfo: info,
	}})
	for {
		select {
		case e, ok := <-m.events:
			if !ok || !write(e) {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}

func proto(s string) *string { return &s }

// nextCall waits for the next call of the given type.
func (m *fakeMaster) nextCall(t *testing.T, typ scheduler.Call_Type) *scheduler.Call {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case c := <-m.got:
			if c.GetType() == typ {
				return c
			}
		case <-deadline:
			t.Fatalf("no %s call", typ)
		}
	}
}

// updater is a Handler that acks every update at once and records subscriptions.
type updater struct {
	*recorder
	acks chan error
}

func (u *updater) Update(ctx context.Context, _ mesos.TaskStatus, ack func(context.Context) error) {
	u.acks <- ack(ctx)
}

func TestSubscribeCallsAndMissedHeartbeats(t *testing.T) {
	m, srv := newFakeMaster(t)
	h := &updater{recorder: newRecorder(), acks: make(chan error, 4)}
	fid := "fw-existing"
	c, err := New(Config{
		Master: srv.URL,
		FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm", Roles: []string{"k8s"},
			ID: &mesos.FrameworkID{Value: fid}},
		Credentials:     &Credentials{Principal: "k8sm", Secret: "pw"},
		HeartbeatMisses: 3,
		MinBackoff:      10 * time.Millisecond,
	}, h)
	if err != nil {
		t.Fatal(err)
	}
	// The fake announces 50 ms heartbeats, below the 1 s floor: let the test be quick.
	c.heartbeat.min = 10 * time.Millisecond
	ctx := runConn(t, c)

	sub := m.nextCall(t, scheduler.Call_SUBSCRIBE)
	if sub.GetSubscribe().GetFrameworkInfo().GetID().GetValue() != fid || sub.GetFrameworkID().GetValue() != fid {
		t.Fatalf("SUBSCRIBE must fail over to %s: %v", fid, sub)
	}
	<-h.got // Subscribed
	if !c.Subscribed() || c.FrameworkID() != fid || c.Leader() != "http://127.0.0.1:5050" {
		t.Fatalf("after SUBSCRIBED: subscribed=%v id=%q leader=%q", c.Subscribed(), c.FrameworkID(), c.Leader())
	}
	m.mu.Lock()
	if !strings.HasPrefix(m.auth[0], "Basic ") {
		t.Errorf("SUBSCRIBE carried no basic auth: %q", m.auth[0])
	}
	m.mu.Unlock()

	// Calls carry the framework id and the stream id (the fake refuses others).
	if err := c.Decline(ctx, c.Subscription(), []mesos.OfferID{{Value: "o1"}}, 7*time.Second); err != nil {
		t.Fatal(err)
	}
	dec := m.nextCall(t, scheduler.Call_DECLINE)
	if dec.GetFrameworkID().GetValue() != fid || dec.GetDecline().GetFilters().GetRefuseSeconds() != 7 {
		t.Fatalf("DECLINE = %v", dec)
	}
	grace := 3 * time.Second
	if err := c.Kill(ctx, "t1", "a1", &grace); err != nil {
		t.Fatal(err)
	}
	kill := m.nextCall(t, scheduler.Call_KILL)
	if kill.GetKill().GetKillPolicy().GetGracePeriod().GetNanoseconds() != grace.Nanoseconds() || kill.GetKill().GetAgentID().GetValue() != "a1" {
		t.Fatalf("KILL = %v", kill)
	}
	if err := c.Suppress(ctx); err != nil {
		t.Fatal(err)
	}
	if sup := m.nextCall(t, scheduler.Call_SUPPRESS); len(sup.GetSuppress().GetRoles()) != 1 || sup.GetSuppress().GetRoles()[0] != "k8s" {
		t.Fatalf("SUPPRESS = %v", sup)
	}

	// An update with a uuid is acknowledged through the handler's ack; one without is not.
	m.events <- &scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: mesos.TaskStatus{
		TaskID: mesos.TaskID{Value: "t1"}, State: mesos.TASK_RUNNING.Enum(), AgentID: &mesos.AgentID{Value: "a1"}, UUID: []byte("0123456789abcdef")}}}
	if err := <-h.acks; err != nil {
		t.Fatal(err)
	}
	ack := m.nextCall(t, scheduler.Call_ACKNOWLEDGE)
	if string(ack.GetAcknowledge().GetUUID()) != "0123456789abcdef" || ack.GetAcknowledge().TaskID.Value != "t1" {
		t.Fatalf("ACKNOWLEDGE = %v", ack)
	}

	// No events (no heartbeats) for 3 intervals: the master is taken for dead and the
	// connection subscribes again.
	select {
	case <-h.got:
	case <-time.After(5 * time.Second):
		t.Fatal("missed heartbeats did not end the subscription")
	}
	h.mu.Lock()
	var se *SubscribeError
	if len(h.disconnected) == 0 || !errors.As(h.disconnected[0], &se) || se.Reason != ReasonHeartbeatMissed {
		t.Fatalf("want %s, got %v", ReasonHeartbeatMissed, h.disconnected)
	}
	h.mu.Unlock()
	m.nextCall(t, scheduler.Call_SUBSCRIBE)
}

func TestSubscribeRefusals(t *testing.T) {
	for _, tc := range []struct {
		status int
		reason string
	}{
		{http.StatusUnauthorized, ReasonAuthenticationFailed},
		{http.StatusServiceUnavailable, ReasonNoLeader},
		{http.StatusBadRequest, ReasonSubscribeRefused},
	} {
		m, srv := newFakeMaster(t)
		m.status = tc.status
		h := newRecorder()
		c, err := New(Config{Master: srv.URL, FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm"}, MinBackoff: time.Hour}, h)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); c.Run(ctx) }()
		select {
		case <-h.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d: no Disconnected", tc.status)
		}
		cancel()
		<-done
		var se *SubscribeError
		if len(h.disconnected) == 0 || !errors.As(h.disconnected[0], &se) || se.Reason != tc.reason {
			t.Errorf("HTTP %d: want %s, got %v", tc.status, tc.reason, h.disconnected)
		}
	}
}

func TestCallsWithoutSubscriptionFail(t *testing.T) {
	c, err := New(Config{Master: "http://127.0.0.1:1", FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm"}}, newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Revive(context.Background()); !errors.Is(err, ErrNotSubscribed) {
		t.Fatalf("Revive without a subscription = %v, want ErrNotSubscribed", err)
	}
	if _, err := New(Config{Master: "http://m:5050"}, newRecorder()); err == nil {
		t.Fatal("New accepted a FrameworkInfo without user and name")
	}
}

func TestHTTPSMasterWithCA(t *testing.T) {
	m := &fakeMaster{t: t, streamID: "stream-1", events: make(chan *scheduler.Event, 16), got: make(chan *scheduler.Call, 64)}
	srv := httptest.NewTLSServer(m)
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())

	for _, tc := range []struct {
		name   string
		tls    *tls.Config
		reason string
	}{
		{"trusted CA", &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, ""},
		{"unknown CA", &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}, ReasonMasterUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newRecorder()
			c, err := New(Config{Master: srv.URL, TLS: tc.tls, FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm"}, MinBackoff: time.Hour}, h)
			if err != nil {
				t.Fatal(err)
			}
			runConn(t, c)
			select {
			case <-h.got:
			case <-time.After(10 * time.Second):
				t.Fatal("neither subscribed nor refused")
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if tc.reason == "" {
				if len(h.subscribed) != 1 || !strings.HasPrefix(c.Leader(), "https://") {
					t.Fatalf("not subscribed over https: %v %v leader %q", h.subscribed, h.disconnected, c.Leader())
				}
				return
			}
			var se *SubscribeError
			if len(h.disconnected) == 0 || !errors.As(h.disconnected[0], &se) || se.Reason != tc.reason || !strings.Contains(se.Error(), "certificate") {
				t.Fatalf("want %s with a certificate error, got %v", tc.reason, h.disconnected)
			}
		})
	}
}
