package framework

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// The hostile fake master: a scheduler endpoint and operator API on 127.0.0.1 that
// misbehaves in one way, to check that every request to a master is bounded in time and
// size and that garbage ends a subscription with a reason, not a hang, a panic or an OOM.

// Short bounds for the tests, and a safety deadline far above them: tests assert on the
// outcome, the deadline only keeps a broken bound from hanging the run.
const (
	hostileTimeout = 300 * time.Millisecond
	safety         = 10 * time.Second
	mib            = 1 << 20
)

// hostileMaster answers SUBSCRIBE with subscribe and every other request (calls, the
// operator API) with call; nil answers 202.
type hostileMaster struct {
	subscribe, call func(h *hostileMaster, w http.ResponseWriter, r *http.Request)
	quit            chan struct{}
	subscribes      atomic.Int32
	srv             *httptest.Server
}

func startHostile(t *testing.T, subscribe, call func(h *hostileMaster, w http.ResponseWriter, r *http.Request)) *hostileMaster {
	t.Helper()
	h := &hostileMaster{subscribe: subscribe, call: call, quit: make(chan struct{})}
	h.srv = httptest.NewServer(h) // listens on 127.0.0.1 only
	t.Cleanup(func() {
		close(h.quit)
		h.srv.CloseClientConnections()
		h.srv.Close()
	})
	return h
}

func (h *hostileMaster) URL() string { return h.srv.URL }

func (h *hostileMaster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, mib))
	var call scheduler.Call
	if r.URL.Path == "/api/v1/scheduler" && call.Unmarshal(body) == nil && call.GetType() == scheduler.Call_SUBSCRIBE {
		h.subscribes.Add(1)
		h.subscribe(h, w, r)
		return
	}
	if h.call == nil {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	h.call(h, w, r)
}

// hold blocks until the client goes away or the test ends.
func (h *hostileMaster) hold(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-h.quit:
	}
}

// pause waits d unless the client goes away or the test ends; it says whether to go on.
func (h *hostileMaster) pause(r *http.Request, d time.Duration) bool {
	select {
	case <-r.Context().Done():
		return false
	case <-h.quit:
		return false
	case <-time.After(d):
		return true
	}
}

// streamHeaders answers SUBSCRIBE like Mesos: 200, protobuf, a stream id.
func streamHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set("Mesos-Stream-Id", "stream-1")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
}

func writeRaw(w http.ResponseWriter, b []byte) bool {
	_, err := w.Write(b)
	w.(http.Flusher).Flush()
	return err == nil
}

func frame(data []byte) []byte {
	return append([]byte(fmt.Sprintf("%d\n", len(data))), data...)
}

func eventFrame(t testing.TB, e *scheduler.Event) []byte {
	data, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return frame(data)
}

func subscribedEvent(hb float64) *scheduler.Event {
	return &scheduler.Event{Type: scheduler.Event_SUBSCRIBED, Subscribed: &scheduler.Event_Subscribed{
		FrameworkID: &mesos.FrameworkID{Value: "fw-1"}, HeartbeatIntervalSeconds: &hb}}
}

// subscribedThen answers SUBSCRIBE with SUBSCRIBED (heartbeat hb), then does then.
func subscribedThen(t *testing.T, hb float64, then func(h *hostileMaster, w http.ResponseWriter, r *http.Request)) func(*hostileMaster, http.ResponseWriter, *http.Request) {
	sub := eventFrame(t, subscribedEvent(hb))
	return func(h *hostileMaster, w http.ResponseWriter, r *http.Request) {
		streamHeaders(w)
		if writeRaw(w, sub) {
			then(h, w, r)
		}
	}
}

// writeBytes writes n bytes of b repeated, stopping when the client goes away.
func writeBytes(w http.ResponseWriter, n int, b byte) {
	chunk := bytes.Repeat([]byte{b}, 64<<10)
	for n > 0 {
		k := min(n, len(chunk))
		if _, err := w.Write(chunk[:k]); err != nil {
			return
		}
		n -= k
	}
	w.(http.Flusher).Flush()
}

// trickle writes b one byte at a time, every interval.
func trickle(h *hostileMaster, w http.ResponseWriter, r *http.Request, b []byte, interval time.Duration) {
	for _, c := range b {
		if !writeRaw(w, []byte{c}) || !h.pause(r, interval) {
			return
		}
	}
	h.hold(r)
}

// hostileConn runs a Connection to master with the test's short bounds; it tries once.
func hostileConn(t *testing.T, master string, tune func(*Config, *Connection)) (*Connection, *recorder) {
	t.Helper()
	rec := newRecorder()
	cfg := Config{Master: master, FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm"},
		RequestTimeout: hostileTimeout, HeartbeatMisses: 2, MinBackoff: time.Hour}
	c, err := New(cfg, rec)
	if err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		tune(&c.cfg, c)
	}
	runConn(t, c)
	return c, rec
}

// firstDisconnect waits for the connection's first Disconnected and returns its error.
func firstDisconnect(t *testing.T, rec *recorder) *SubscribeError {
	t.Helper()
	deadline := time.After(safety)
	for {
		rec.mu.Lock()
		var got []error
		got = append(got, rec.disconnected...)
		rec.mu.Unlock()
		if len(got) > 0 {
			var se *SubscribeError
			if !errors.As(got[0], &se) {
				t.Fatalf("Disconnected(%v), want a SubscribeError", got[0])
			}
			return se
		}
		select {
		case <-rec.got:
		case <-deadline:
			t.Fatalf("the connection neither failed nor ended within %s", safety)
		}
	}
}

// totalAlloc is how many bytes the process allocated so far.
func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// Every way a master can misbehave on SUBSCRIBE and its stream ends the subscription
// with a reason naming the master, within the bounds and without allocating what the
// master announces.
func TestHostileMasterSubscription(t *testing.T) {
	huge := []byte("1099511627776\n") // 1 TiB
	for _, tc := range []struct {
		name      string
		subscribe func(h *hostileMaster, w http.ResponseWriter, r *http.Request)
		reason    string
		says      string // part of the error's message
	}{
		{"never answers", func(h *hostileMaster, _ http.ResponseWriter, r *http.Request) { h.hold(r) },
			ReasonMasterTimeout, "did not answer SUBSCRIBE within 300ms"},
		{"headers then nothing", func(h *hostileMaster, w http.ResponseWriter, r *http.Request) { streamHeaders(w); h.hold(r) },
			ReasonMasterTimeout, "sent no SUBSCRIBED event within 300ms"},
		{"SUBSCRIBED trickled", func(h *hostileMaster, w http.ResponseWriter, r *http.Request) {
			streamHeaders(w)
			trickle(h, w, r, eventFrame(t, subscribedEvent(15)), 50*time.Millisecond)
		}, ReasonMasterTimeout, "sent no SUBSCRIBED event within 300ms"},
		{"events but no SUBSCRIBED", func(h *hostileMaster, w http.ResponseWriter, r *http.Request) {
			streamHeaders(w)
			hb := eventFrame(t, &scheduler.Event{Type: scheduler.Event_HEARTBEAT})
			for writeRaw(w, hb) && h.pause(r, 20*time.Millisecond) {
			}
		}, ReasonMasterTimeout, "sent no SUBSCRIBED event"},
		{"huge length prefix", subscribedThen(t, 15, func(h *hostileMaster, w http.ResponseWriter, r *http.Request) {
			writeRaw(w, huge)
			writeBytes(w, 64*mib, 'x')
			h.hold(r)
		}), ReasonEventTooLarge, "event of 1099511627776 bytes, more than MaxEventSize (67108864 bytes); refused before reading it"},
		{"endless length prefix", subscribedThen(t, 15, func(h *hostileMaster, w http.ResponseWriter, r *http.Request) {
			writeBytes(w, 64*mib, '9')
			h.hold(r)
		}), ReasonEventTooLarge, "21-digit number of bytes"},
		{"garbage instead of RecordIO", func(h *hostileMaster, w http.ResponseWriter, r *http.Request) {
			streamHeaders(w)
			writeRaw(w, []byte("<html><body>502 Bad Gateway</body></html>"))
			h.hold(r)
		}, ReasonBadStream, `not RecordIO: "<" where a frame length was expected`},
		{"RecordIO of garbage", subscribedThen(t, 15, func(h *hostileMaster, w http.ResponseWriter, r *http.Request) {
			writeRaw(w, frame([]byte("\xff\xff\xff\xff not protobuf")))
			h.hold(r)
		}), ReasonMalformedEvent, "not a protobuf scheduler event"},
		{"SUBSCRIBED without its fields", func(h *hostileMaster, w http.ResponseWriter, r *http.Request) {
			streamHeaders(w)
			writeRaw(w, eventFrame(t, &scheduler.Event{Type: scheduler.Event_SUBSCRIBED}))
			h.hold(r)
		}, ReasonMalformedEvent, "SUBSCRIBED event without a framework id"},
		{"RESCIND without its fields", subscribedThen(t, 15, func(h *hostileMaster, w http.ResponseWriter, r *http.Request) {
			writeRaw(w, eventFrame(t, &scheduler.Event{Type: scheduler.Event_RESCIND}))
			h.hold(r)
		}), ReasonMalformedEvent, "RESCIND without its rescind field"},
		{"not an event stream", func(_ *hostileMaster, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("<html>hello</html>"))
		}, ReasonBadStream, `unexpected content type: "text/html"`},
		{"no stream id", func(h *hostileMaster, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-protobuf")
			w.WriteHeader(http.StatusOK)
			writeRaw(w, eventFrame(t, subscribedEvent(15)))
			h.hold(r)
		}, ReasonBadStream, "missing Mesos-Stream-Id"},
		{"closed mid-event", subscribedThen(t, 15, func(_ *hostileMaster, w http.ResponseWriter, _ *http.Request) {
			writeRaw(w, []byte("100\nabc"))
		}), ReasonStreamClosed, "in the middle of an event"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHostile(t, tc.subscribe, nil)
			before := totalAlloc()
			_, rec := hostileConn(t, h.URL(), nil)
			se := firstDisconnect(t, rec)
			if se.Reason != tc.reason || se.Master != h.URL() || !strings.Contains(se.Error(), tc.says) {
				t.Fatalf("got %s, want %s naming %s and saying %q", se, tc.reason, h.URL(), tc.says)
			}
			// The master sends up to 64 MiB; none of it may be buffered.
			if grew := totalAlloc() - before; grew > 32*mib {
				t.Errorf("allocated %d MiB", grew/mib)
			}
		})
	}
}

// silentListener accepts TCP connections on 127.0.0.1 and never reads or writes; it
// returns its host:port.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// A master that accepts TCP connections and never reads or answers ends the attempt.
func TestMasterAcceptsButNeverAnswers(t *testing.T) {
	master := "http://" + silentListener(t)
	_, rec := hostileConn(t, master, nil)
	if se := firstDisconnect(t, rec); se.Reason != ReasonMasterTimeout || se.Master != master {
		t.Fatalf("got %s, want %s", se, ReasonMasterTimeout)
	}
}

// An event larger than mesos-go's 4 MiB but within MaxEventSize is read.
func TestLargeEventWithinLimit(t *testing.T) {
	var offers []mesos.Offer
	for i := range 20000 {
		id := fmt.Sprintf("offer-%06d-%s", i, strings.Repeat("o", 200))
		offers = append(offers, mesos.Offer{ID: mesos.OfferID{Value: id}, FrameworkID: mesos.FrameworkID{Value: "fw-1"},
			AgentID: mesos.AgentID{Value: "agent"}, Hostname: "host"})
	}
	big := eventFrame(t, &scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: offers}})
	if len(big) <= 4*mib {
		t.Fatalf("the event has %d bytes, want more than 4 MiB", len(big))
	}
	h := startHostile(t, subscribedThen(t, 15, func(h *hostileMaster, w http.ResponseWriter, r *http.Request) {
		writeRaw(w, big)
		h.hold(r)
	}), nil)
	got := make(chan int, 1)
	c, err := New(Config{Master: h.URL(), FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm"}, MinBackoff: time.Hour},
		&offerCounter{recorder: newRecorder(), got: got})
	if err != nil {
		t.Fatal(err)
	}
	runConn(t, c)
	select {
	case n := <-got:
		if n != len(offers) {
			t.Fatalf("got %d offers, want %d", n, len(offers))
		}
	case <-time.After(safety):
		t.Fatal("the large OFFERS event did not arrive")
	}
}

// offerCounter is a Handler that says how many offers each OFFERS event held.
type offerCounter struct {
	*recorder
	got chan int
}

func (o *offerCounter) Offers(_ context.Context, offers []mesos.Offer) { o.got <- len(offers) }

// The heartbeat interval the master announces is kept within bounds: the watchdog ends
// a silent subscription after HeartbeatMisses (2) clamped intervals, whatever the
// master announced. The test narrows the bounds to [100ms, 400ms], default 300ms.
func TestHeartbeatIntervalIsClamped(t *testing.T) {
	for _, tc := range []struct {
		announced float64
		silence   string // HeartbeatMisses × the interval used
	}{
		{0, "600ms"},
		{-5, "600ms"},
		{math.NaN(), "600ms"},
		{1e9, "800ms"},
		{math.Inf(1), "800ms"},
		{1e-9, "200ms"},
		{0.25, "500ms"},
	} {
		t.Run(fmt.Sprint(tc.announced), func(t *testing.T) {
			h := startHostile(t, subscribedThen(t, tc.announced, func(h *hostileMaster, w http.ResponseWriter, r *http.Request) {
				// A few heartbeats, faster than the floor, then silence.
				hb := eventFrame(t, &scheduler.Event{Type: scheduler.Event_HEARTBEAT})
				for range 3 {
					if !writeRaw(w, hb) || !h.pause(r, 30*time.Millisecond) {
						return
					}
				}
				h.hold(r)
			}), nil)
			_, rec := hostileConn(t, h.URL(), func(_ *Config, c *Connection) {
				c.heartbeat = heartbeats{def: 300 * time.Millisecond, min: 100 * time.Millisecond, max: 400 * time.Millisecond}
			})
			se := firstDisconnect(t, rec)
			want := "no event from the master for " + tc.silence + " (2 heartbeat intervals)"
			if se.Reason != ReasonHeartbeatMissed || !strings.Contains(se.Error(), want) {
				t.Fatalf("got %s, want %s saying %q", se, ReasonHeartbeatMissed, want)
			}
			if rec.subscribed[0] != "fw-1" {
				t.Fatalf("subscribed %v", rec.subscribed)
			}
		})
	}
}

func TestHeartbeatBounds(t *testing.T) {
	for _, tc := range []struct {
		announced float64
		want      time.Duration
	}{
		{15, 15 * time.Second},
		{0, 15 * time.Second},
		{-1, 15 * time.Second},
		{math.NaN(), 15 * time.Second},
		{math.Inf(-1), 15 * time.Second},
		{0.05, time.Second},
		{1.5, 1500 * time.Millisecond},
		{300, 5 * time.Minute},
		{1e9, 5 * time.Minute},
		{1e300, 5 * time.Minute},
		{math.Inf(1), 5 * time.Minute},
	} {
		if got := defaultHeartbeats.interval(tc.announced); got != tc.want {
			t.Errorf("interval(%v) = %s, want %s", tc.announced, got, tc.want)
		}
	}
}

// A slow-loris master (SUBSCRIBED, then a frame trickled a byte at a time) is taken for
// dead by the heartbeat watchdog: bytes are not events.
func TestSlowLorisAfterSubscribed(t *testing.T) {
	h := startHostile(t, subscribedThen(t, 0.2, func(h *hostileMaster, w http.ResponseWriter, r *http.Request) {
		trickle(h, w, r, frame(bytes.Repeat([]byte("x"), 1000)), 20*time.Millisecond)
	}), nil)
	_, rec := hostileConn(t, h.URL(), func(_ *Config, c *Connection) { c.heartbeat.min = 100 * time.Millisecond })
	if se := firstDisconnect(t, rec); se.Reason != ReasonHeartbeatMissed || !strings.Contains(se.Error(), "for 400ms") {
		t.Fatalf("got %s, want %s after 400ms", se, ReasonHeartbeatMissed)
	}
}

// A Driver whose master answers garbage after SUBSCRIBED tries again, backing off
// further each time instead of resubscribing at the minimum backoff.
func TestGarbageMasterBacksOff(t *testing.T) {
	h := startHostile(t, subscribedThen(t, 15, func(h *hostileMaster, w http.ResponseWriter, r *http.Request) {
		writeRaw(w, []byte("garbage\n"))
		h.hold(r)
	}), nil)
	obs := &observed{}
	d, err := NewDriver(Config{Master: h.URL(), FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm"},
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 160 * time.Millisecond, AgentPollInterval: -1, Observer: obs}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	// 20+40+80+160+160+160 ms of backoff: 7 attempts in about 0.7 s, and no more than
	// about 11 in 1.2 s. Without backing off it would be 50 or more.
	time.Sleep(1200 * time.Millisecond)
	d.Stop()
	n := h.subscribes.Load()
	if n < 3 || n > 15 {
		t.Errorf("%d SUBSCRIBEs in 1.2s, want 3 to 15", n)
	}
	for _, s := range obs.list() {
		if strings.HasPrefix(s, "Disconnected(") && s != "Disconnected("+ReasonBadStream+")" {
			t.Fatalf("observer told %v, want only %s disconnections", obs.list(), ReasonBadStream)
		}
	}
	if st := d.Status(); st.Subscribed || !strings.Contains(fmt.Sprint(st.LastError), `not RecordIO: "g"`) {
		t.Fatalf("status %+v", st)
	}
}

// Calls to a master that is slow or answers too much fail within RequestTimeout, and
// their answers are not read past MaxResponseSize.
func TestHostileMasterCalls(t *testing.T) {
	partial := func(status int) func(*hostileMaster, http.ResponseWriter, *http.Request) {
		return func(h *hostileMaster, w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			writeRaw(w, []byte("partial"))
			h.hold(r)
		}
	}
	for _, tc := range []struct {
		name string
		call func(h *hostileMaster, w http.ResponseWriter, r *http.Request)
		says string // part of the error's message
	}{
		{"never answers", func(h *hostileMaster, _ http.ResponseWriter, r *http.Request) { h.hold(r) }, ""},
		{"202 then nothing", partial(http.StatusAccepted), "did not send its whole answer within 300ms"},
		{"error text then nothing", partial(http.StatusBadRequest), "malformed request: partial"},
		{"error text of 100 MiB", func(_ *hostileMaster, w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			writeBytes(w, 100*mib, 'e')
		}, "malformed request: eeee"},
		{"202 with 100 MiB", func(_ *hostileMaster, w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusAccepted)
			writeBytes(w, 100*mib, 'x')
		}, "larger than 1048576 bytes (MaxResponseSize)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHostile(t, subscribedThen(t, 15, func(h *hostileMaster, _ http.ResponseWriter, r *http.Request) { h.hold(r) }), tc.call)
			c, rec := hostileConn(t, h.URL(), func(cfg *Config, _ *Connection) { cfg.MaxResponseSize = mib })
			select {
			case <-rec.got:
			case <-time.After(safety):
				t.Fatal("not subscribed")
			}
			if !c.Subscribed() {
				t.Fatalf("not subscribed: %v", rec.disconnected)
			}
			before := totalAlloc()
			done := make(chan error, 1)
			go func() { done <- c.Revive(context.Background()) }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.says) {
					t.Fatalf("REVIVE: %v, want an error saying %q", err, tc.says)
				}
			case <-time.After(safety):
				t.Fatal("REVIVE did not end")
			}
			if grew := totalAlloc() - before; grew > 32*mib {
				t.Errorf("allocated %d MiB", grew/mib)
			}
		})
	}
}

// The operator API's answers are bounded the same way.
func TestHostileOperatorAPI(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(h *hostileMaster, w http.ResponseWriter, r *http.Request)
		says   string
	}{
		{"never answers", func(h *hostileMaster, _ http.ResponseWriter, r *http.Request) { h.hold(r) }, "GET_AGENTS from"},
		{"trickles", func(h *hostileMaster, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-protobuf")
			w.WriteHeader(http.StatusOK)
			trickle(h, w, r, bytes.Repeat([]byte{0}, 1000), 50*time.Millisecond)
		}, "did not send its whole answer within 300ms"},
		{"100 MiB", func(_ *hostileMaster, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/x-protobuf")
			w.WriteHeader(http.StatusOK)
			writeBytes(w, 100*mib, 0)
		}, "larger than 1048576 bytes (MaxResponseSize)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHostile(t, nil, tc.answer)
			c := &Connection{cfg: Config{RequestTimeout: hostileTimeout, MaxResponseSize: mib}, operator: h.URL()}
			before := totalAlloc()
			done := make(chan error, 1)
			go func() { _, err := c.GetAgents(context.Background()); done <- err }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.says) {
					t.Fatalf("GET_AGENTS: %v, want an error saying %q", err, tc.says)
				}
			case <-time.After(safety):
				t.Fatal("GET_AGENTS did not end")
			}
			if grew := totalAlloc() - before; grew > 32*mib {
				t.Errorf("allocated %d MiB", grew/mib)
			}
		})
	}
}

// A ZooKeeper that accepts connections and never answers fails the leader lookup within
// RequestTimeout.
func TestSilentZooKeeper(t *testing.T) {
	_, rec := hostileConn(t, "zk://"+silentListener(t)+"/mesos", nil)
	se := firstDisconnect(t, rec)
	if se.Reason != ReasonNoLeader || !strings.Contains(se.Error(), "did not answer within 300ms") {
		t.Fatalf("got %s, want %s", se, ReasonNoLeader)
	}
}
