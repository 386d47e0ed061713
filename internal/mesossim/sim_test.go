package mesossim

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/recordio"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

func startSim(t testing.TB, cfg Config) *Master {
	t.Helper()
	if cfg.AllocationInterval == 0 {
		cfg.AllocationInterval = 20 * time.Millisecond
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 200 * time.Millisecond
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func post(t testing.TB, url, contentType, accept, streamID string, body []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/scheduler", bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if streamID != "" {
		req.Header.Set("Mesos-Stream-Id", streamID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func marshal(t testing.TB, c *scheduler.Call) []byte {
	t.Helper()
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// client is a scheduler subscribed over raw HTTP, reading its stream.
type client struct {
	t        testing.TB
	url      string
	id       string
	streamID string
	events   chan *scheduler.Event
}

func subscribe(t testing.TB, m *Master, info mesos.FrameworkInfo) *client {
	t.Helper()
	resp := post(t, m.URL(), mediaProtobuf, mediaProtobuf, "", marshal(t, calls.Subscribe(&info)))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SUBSCRIBE = %d", resp.StatusCode)
	}
	c := &client{t: t, url: m.URL(), streamID: resp.Header.Get("Mesos-Stream-Id"), events: make(chan *scheduler.Event, 1024)}
	go func() {
		defer close(c.events)
		r := recordio.NewReader(resp.Body)
		for {
			frame, err := r.ReadFrame()
			if err != nil {
				return
			}
			var e scheduler.Event
			if err := e.Unmarshal(frame); err != nil {
				return
			}
			c.events <- &e
		}
	}()
	e := c.next(scheduler.Event_SUBSCRIBED)
	c.id = e.GetSubscribed().FrameworkID.Value
	return c
}

// next waits for the next event of a type, skipping others.
func (c *client) next(typ scheduler.Event_Type) *scheduler.Event {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-c.events:
			if !ok {
				c.t.Fatalf("stream closed while waiting for %s", typ)
			}
			if e.Type == typ {
				return e
			}
		case <-deadline:
			c.t.Fatalf("no %s event", typ)
		}
	}
}

func (c *client) call(call *scheduler.Call) int {
	c.t.Helper()
	call.FrameworkID = &mesos.FrameworkID{Value: c.id}
	return post(c.t, c.url, mediaProtobuf, "", c.streamID, marshal(c.t, call)).StatusCode
}

// info is a MULTI_ROLE framework with role "*", as k8sm registers, and caps.
func info(caps ...mesos.FrameworkInfo_Capability_Type) mesos.FrameworkInfo {
	timeout := 3600.0
	fi := mesos.FrameworkInfo{User: "root", Name: "test", Roles: []string{"*"}, FailoverTimeout: &timeout}
	caps = append([]mesos.FrameworkInfo_Capability_Type{mesos.FrameworkInfo_Capability_MULTI_ROLE}, caps...)
	for _, c := range caps {
		fi.Capabilities = append(fi.Capabilities, mesos.FrameworkInfo_Capability{Type: c})
	}
	return fi
}

func TestSchedulerEndpointRefusesBadRequests(t *testing.T) {
	m := startSim(t, Config{Agents: 1})
	good := info()
	// JSON can leave out a required field (protobuf from mesos-go cannot): stout's
	// protobuf::parse refuses it.
	noUser := []byte(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"x"}}}`)
	for _, tc := range []struct {
		name                   string
		method, ct, accept, id string
		body                   []byte
		want                   int
	}{
		{"GET", http.MethodGet, mediaProtobuf, "", "", nil, http.StatusMethodNotAllowed},
		{"no content type", http.MethodPost, "", "", "", marshal(t, calls.Subscribe(&good)), http.StatusBadRequest},
		{"unknown media type", http.MethodPost, "text/plain", "", "", []byte("hi"), http.StatusUnsupportedMediaType},
		{"garbage", http.MethodPost, mediaProtobuf, "", "", []byte("\xff\xff\xff"), http.StatusBadRequest},
		{"not a call", http.MethodPost, mediaJSON, "", "", []byte(`{"foo":1}`), http.StatusBadRequest},
		{"subscribe without user", http.MethodPost, mediaJSON, "", "", noUser, http.StatusBadRequest},
		{"bad accept", http.MethodPost, mediaProtobuf, "text/html", "", marshal(t, calls.Subscribe(&good)), http.StatusNotAcceptable},
		{"subscribe with a stream id", http.MethodPost, mediaProtobuf, mediaProtobuf, "abc", marshal(t, calls.Subscribe(&good)), http.StatusBadRequest},
		{"call of an unknown framework", http.MethodPost, mediaProtobuf, "", "abc", marshal(t, calls.Revive().With(calls.Framework("nope"))), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, m.URL()+"/api/v1/scheduler", bytes.NewReader(tc.body))
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			if tc.id != "" {
				req.Header.Set("Mesos-Stream-Id", tc.id)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

func TestSubscribeStream(t *testing.T) {
	m := startSim(t, Config{Agents: 2})
	fi := info()
	resp := post(t, m.URL(), mediaProtobuf, mediaProtobuf, "", marshal(t, calls.Subscribe(&fi)))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != mediaProtobuf || resp.Header.Get("Mesos-Stream-Id") == "" || resp.ContentLength != -1 {
		t.Fatalf("SUBSCRIBE: %d %v length %d", resp.StatusCode, resp.Header, resp.ContentLength)
	}
	r := recordio.NewReader(resp.Body)
	var types []scheduler.Event_Type
	for len(types) < 3 {
		frame, err := r.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		var e scheduler.Event
		if err := e.Unmarshal(frame); err != nil {
			t.Fatal(err)
		}
		if e.Type == scheduler.Event_SUBSCRIBED {
			s := e.GetSubscribed()
			if !strings.HasPrefix(s.FrameworkID.Value, m.ID()+"-") || s.GetHeartbeatIntervalSeconds() <= 0 || s.MasterInfo == nil {
				t.Fatalf("SUBSCRIBED = %v", s)
			}
		}
		if e.Type != scheduler.Event_OFFERS {
			types = append(types, e.Type)
		}
	}
	if types[0] != scheduler.Event_SUBSCRIBED || types[1] != scheduler.Event_HEARTBEAT || types[2] != scheduler.Event_HEARTBEAT {
		t.Fatalf("events %v, want SUBSCRIBED then HEARTBEATs", types)
	}
}

func TestCallsNeedTheirStream(t *testing.T) {
	m := startSim(t, Config{Agents: 1})
	c := subscribe(t, m, info())
	if got := c.call(calls.Suppress()); got != http.StatusAccepted {
		t.Fatalf("SUPPRESS = %d", got)
	}
	bad := calls.Revive().With(calls.Framework(c.id))
	if got := post(t, m.URL(), mediaProtobuf, "", "wrong", marshal(t, bad)).StatusCode; got != http.StatusBadRequest {
		t.Fatalf("wrong stream id = %d, want 400", got)
	}
	if got := c.call(calls.Acknowledge("a", "t", []byte("short"))); got != http.StatusBadRequest {
		t.Fatalf("ACKNOWLEDGE with a bad uuid = %d, want 400", got)
	}

	// A second subscription with the id wins; the first gets an ERROR; the old stream id
	// is refused after.
	fi := info()
	fi.ID = &mesos.FrameworkID{Value: c.id}
	c2 := subscribe(t, m, fi)
	if c2.id != c.id || c2.streamID == c.streamID {
		t.Fatalf("failover: id %s stream %s (was %s %s)", c2.id, c2.streamID, c.id, c.streamID)
	}
	if e := c.next(scheduler.Event_ERROR); e.GetError().Message != "Framework failed over" {
		t.Fatalf("old stream got %v", e)
	}
	if got := c.call(calls.Revive()); got != http.StatusBadRequest {
		t.Fatalf("stale stream id = %d, want 400", got)
	}
}

func TestOffersDeclineSuppressRevive(t *testing.T) {
	m := startSim(t, Config{Agents: 3})
	c := subscribe(t, m, info())
	offers := c.next(scheduler.Event_OFFERS).GetOffers().Offers
	agents := map[string]bool{}
	for _, o := range offers {
		agents[o.AgentID.Value] = true
		if o.Hostname == "" || len(o.Resources) == 0 {
			t.Fatalf("offer %v", o)
		}
	}
	if len(offers) != 3 || len(agents) != 3 {
		t.Fatalf("want one offer per agent, got %d offers for %d agents", len(offers), len(agents))
	}
	// Declined with refuse 0: offered again.
	if got := c.call(calls.Decline(offers[0].ID).With(calls.RefuseSeconds(0))); got != http.StatusAccepted {
		t.Fatal(got)
	}
	if again := c.next(scheduler.Event_OFFERS).GetOffers().Offers; again[0].AgentID != offers[0].AgentID {
		t.Fatalf("re-offer from %v, want %v", again[0].AgentID, offers[0].AgentID)
	}
	// Declined for an hour, then REVIVE clears the filter.
	c.call(calls.Decline(offers[1].ID).With(calls.RefuseSeconds(time.Hour)))
	c.call(calls.Revive())
	for {
		o := c.next(scheduler.Event_OFFERS).GetOffers().Offers
		if o[0].AgentID == offers[1].AgentID {
			break
		}
	}
}

// TestSubscribeAndReviveAllocateAtOnce: with an allocation interval of an hour, offers
// still come at once after SUBSCRIBE and after a REVIVE, as Mesos's allocator allocates
// when a framework is added or revives (generateOffers).
func TestSubscribeAndReviveAllocateAtOnce(t *testing.T) {
	m := startSim(t, Config{Agents: 2, AllocationInterval: time.Hour})
	c := subscribe(t, m, info())
	offers := c.next(scheduler.Event_OFFERS).GetOffers().Offers
	if len(offers) != 2 {
		t.Fatalf("want an offer per agent at once, got %d", len(offers))
	}
	c.call(calls.Suppress())
	ids := []mesos.OfferID{offers[0].ID, offers[1].ID}
	if got := c.call(calls.Decline(ids...).With(calls.RefuseSeconds(time.Hour))); got != http.StatusAccepted {
		t.Fatal(got)
	}
	if got := c.call(calls.Revive()); got != http.StatusAccepted {
		t.Fatal(got)
	}
	if again := c.next(scheduler.Event_OFFERS).GetOffers().Offers; len(again) != 2 {
		t.Fatalf("want both agents offered again after REVIVE, got %d", len(again))
	}
}

func TestLaunchUpdatesAcknowledgeReconcile(t *testing.T) {
	m := startSim(t, Config{Agents: 1, UpdateRetry: 100 * time.Millisecond})
	c := subscribe(t, m, info(mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	o := c.next(scheduler.Event_OFFERS).GetOffers().Offers[0]
	cpus := mesos.Resource{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 1}}
	shell := "sleep 1000"
	task := mesos.TaskInfo{Name: "t", TaskID: mesos.TaskID{Value: "t1"}, AgentID: o.AgentID, Resources: []mesos.Resource{cpus},
		Command: &mesos.CommandInfo{Value: &shell}}

	// An offer that does not exist: the task is dropped (PARTITION_AWARE), no uuid.
	c.call(calls.Accept(calls.OfferOperations{calls.OpLaunch(task)}.WithOffers(mesos.OfferID{Value: "nope"})))
	u := c.next(scheduler.Event_UPDATE).GetUpdate().Status
	if u.GetState() != mesos.TASK_DROPPED || u.GetReason() != mesos.REASON_INVALID_OFFERS || len(u.UUID) != 0 {
		t.Fatalf("invalid offer: %v", u)
	}
	// Neither command nor executor: TASK_ERROR.
	bad := task
	bad.Command = nil
	bad.TaskID.Value = "bad"
	c.call(calls.Accept(calls.OfferOperations{calls.OpLaunch(bad, task)}.WithOffers(o.ID)))
	u = c.next(scheduler.Event_UPDATE).GetUpdate().Status
	if u.TaskID.Value != "bad" || u.GetState() != mesos.TASK_ERROR || u.GetReason() != mesos.REASON_TASK_INVALID {
		t.Fatalf("invalid task: %v", u)
	}
	starting := c.next(scheduler.Event_UPDATE).GetUpdate().Status
	if starting.GetState() != mesos.TASK_STARTING || len(starting.UUID) != 16 || starting.GetSource() != mesos.SOURCE_EXECUTOR {
		t.Fatalf("first update %v", starting)
	}
	// Not acknowledged: sent again, and RUNNING waits behind it.
	again := c.next(scheduler.Event_UPDATE).GetUpdate().Status
	if again.GetState() != mesos.TASK_STARTING || string(again.UUID) != string(starting.UUID) {
		t.Fatalf("retry %v", again)
	}
	c.call(calls.Acknowledge(o.AgentID.Value, "t1", starting.UUID))
	running := c.next(scheduler.Event_UPDATE).GetUpdate().Status
	if running.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("after ack %v", running)
	}
	c.call(calls.Acknowledge(o.AgentID.Value, "t1", running.UUID))

	// Reconcile: the known task, an unknown task on a known agent, an unknown agent.
	c.call(calls.Reconcile(calls.ReconcileTasks(map[string]string{"t1": o.AgentID.Value})))
	u = c.next(scheduler.Event_UPDATE).GetUpdate().Status
	if u.GetState() != mesos.TASK_RUNNING || u.GetReason() != mesos.REASON_RECONCILIATION || len(u.UUID) != 0 || u.GetSource() != mesos.SOURCE_MASTER {
		t.Fatalf("reconcile known: %v", u)
	}
	c.call(calls.Reconcile(calls.ReconcileTasks(map[string]string{"ghost": o.AgentID.Value})))
	if u = c.next(scheduler.Event_UPDATE).GetUpdate().Status; u.GetState() != mesos.TASK_GONE {
		t.Fatalf("reconcile unknown task: %v", u)
	}
	c.call(calls.Reconcile(calls.ReconcileTasks(map[string]string{"ghost": "no-such-agent"})))
	if u = c.next(scheduler.Event_UPDATE).GetUpdate().Status; u.GetState() != mesos.TASK_UNKNOWN {
		t.Fatalf("reconcile unknown agent: %v", u)
	}

	// Kill: KILLED, and the resources come back.
	c.call(calls.Kill("t1", o.AgentID.Value))
	if u = c.next(scheduler.Event_UPDATE).GetUpdate().Status; u.GetState() != mesos.TASK_KILLED {
		t.Fatalf("kill: %v", u)
	}
	c.call(calls.Acknowledge(o.AgentID.Value, "t1", u.UUID))
	c.call(calls.Revive())
	for {
		var cpus float64
		for _, r := range c.next(scheduler.Event_OFFERS).GetOffers().Offers[0].Resources {
			if r.Name == "cpus" {
				cpus += r.GetScalar().GetValue()
			}
		}
		if cpus == 4 {
			break // the killed task's cpu is offered again
		}
	}

	// TEARDOWN removes the framework: a later SUBSCRIBE with its id gets an ERROR.
	c.call(&scheduler.Call{Type: scheduler.Call_TEARDOWN})
	fi := info()
	fi.ID = &mesos.FrameworkID{Value: c.id}
	resp := post(t, m.URL(), mediaProtobuf, mediaProtobuf, "", marshal(t, calls.Subscribe(&fi)))
	frame, err := recordio.NewReader(resp.Body).ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	var e scheduler.Event
	if err := e.Unmarshal(frame); err != nil || e.Type != scheduler.Event_ERROR || !strings.Contains(e.GetError().Message, "removed") {
		t.Fatalf("subscribe after teardown: %v %v", e, err)
	}
}

func TestNotPartitionAwareSeesLost(t *testing.T) {
	m := startSim(t, Config{Agents: 1})
	c := subscribe(t, m, info())
	o := c.next(scheduler.Event_OFFERS).GetOffers().Offers[0]
	c.call(calls.Reconcile(calls.ReconcileTasks(map[string]string{"ghost": o.AgentID.Value})))
	if u := c.next(scheduler.Event_UPDATE).GetUpdate().Status; u.GetState() != mesos.TASK_LOST {
		t.Fatalf("unknown task for a framework that is not PARTITION_AWARE: %v", u)
	}
}

func TestParseResources(t *testing.T) {
	p, err := ParseResources("cpus:4;mem:8192;disk:20000;ports:[31000-31005,32000-32000]")
	if err != nil || p.scalars["cpus"] != 4 || p.scalars["mem"] != 8192 || len(p.ports) != 2 {
		t.Fatalf("%+v %v", p, err)
	}
	for _, bad := range []string{"cpus", "cpus:x", "ports:[5-1]", "mem:[1-2]"} {
		if _, err := ParseResources(bad); err == nil {
			t.Errorf("ParseResources(%q) accepted", bad)
		}
	}
	q := newPool()
	q.ports = [][2]uint64{{31002, 31002}}
	q.scalars["cpus"] = 1
	p.subtract(q)
	if p.hasPort(31002) || !p.hasPort(31001) || !p.hasPort(31003) || p.scalars["cpus"] != 3 {
		t.Fatalf("subtract: %+v", p)
	}
	p.add(q)
	if !p.hasPort(31002) || p.scalars["cpus"] != 4 || len(p.ports) != 2 {
		t.Fatalf("add: %+v", p)
	}
}

func TestFaultsOverHTTP(t *testing.T) {
	m := startSim(t, Config{Agents: 2})
	c := subscribe(t, m, info(mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	o := c.next(scheduler.Event_OFFERS).GetOffers().Offers[0]
	cpus := mesos.Resource{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 1}}
	shell := "sleep 1000"
	c.call(calls.Accept(calls.OfferOperations{calls.OpLaunch(mesos.TaskInfo{Name: "t", TaskID: mesos.TaskID{Value: "t1"},
		AgentID: o.AgentID, Resources: []mesos.Resource{cpus}, Command: &mesos.CommandInfo{Value: &shell}})}.WithOffers(o.ID)))
	for u := c.next(scheduler.Event_UPDATE).GetUpdate().Status; u.GetState() != mesos.TASK_RUNNING; u = c.next(scheduler.Event_UPDATE).GetUpdate().Status {
		c.call(calls.Acknowledge(o.AgentID.Value, "t1", u.UUID))
	}
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/faults/partition?agent=nope", http.StatusNotFound},
		{"/faults/partition?agent=" + o.Hostname, http.StatusAccepted},
		{"/faults/unknown", http.StatusNotFound},
	} {
		resp, err := http.Post(m.URL()+tc.path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("%s = %d, want %d", tc.path, resp.StatusCode, tc.want)
		}
	}
	if u := c.next(scheduler.Event_UPDATE).GetUpdate().Status; u.GetState() != mesos.TASK_UNREACHABLE || u.TaskID.Value != "t1" {
		t.Fatalf("after a partition: %v", u)
	}
	resp, err := http.Post(m.URL()+"/faults/drop-stream?framework="+c.id, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-c.events:
			if !ok {
				return // the stream was dropped
			}
		case <-deadline:
			t.Fatal("the stream was not dropped")
		}
	}
}

// Mesos's master buffers what a framework has not read yet without bound (libprocess
// http::Pipe): a framework that asks about 10,000 tasks at once, as k8sm does after a
// failover, gets every answer on a stream that stays open.
func TestAStreamTakesABurstOfEvents(t *testing.T) {
	m := startSim(t, Config{Agents: 1})
	c := subscribe(t, m, info(mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	const n = 10000
	ask := make(map[string]string, n)
	for i := range n {
		ask[fmt.Sprintf("t-%d", i)] = "no-such-agent"
	}
	if code := c.call(calls.Reconcile(calls.ReconcileTasks(ask))); code != http.StatusAccepted {
		t.Fatalf("RECONCILE = %d", code)
	}
	for range n {
		c.next(scheduler.Event_UPDATE)
	}
}
