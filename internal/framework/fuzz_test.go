package framework

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/go-logr/logr"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// What a master answers is fuzzed through the code that reads it: the event stream
// through the frame reader, the event decoder and the dispatch to the handler; the
// answer to GET_AGENTS through the bounded HTTP body, mesos-go's client and the decoder.
// Neither may panic, nor allocate by what the master announces rather than sends.

// allocationAllowance is what reading n bytes of a master's answer may allocate: the
// 32 KiB read buffer, a first MiB of a frame announced larger than it is, and a
// protobuf's decoding, whose structs take some hundred times the bytes that encode them
// (an empty Offer is 2 bytes).
func allocationAllowance(n int) uint64 { return 2<<20 + 256*uint64(n) }

// nopHandler is a Handler that takes every event, executors' messages too, and does
// nothing.
type nopHandler struct{}

func (nopHandler) Subscribed(context.Context, string, *mesos.MasterInfo)                 {}
func (nopHandler) Disconnected(context.Context, error)                                   {}
func (nopHandler) Offers(context.Context, []mesos.Offer)                                 {}
func (nopHandler) Rescind(context.Context, mesos.OfferID)                                {}
func (nopHandler) Update(context.Context, mesos.TaskStatus, func(context.Context) error) {}
func (nopHandler) Failure(context.Context, *scheduler.Event_Failure)                     {}
func (nopHandler) Error(context.Context, string)                                         {}
func (nopHandler) Message(context.Context, string, string, []byte)                       {}

// FuzzEventStream: any bytes on the event stream end in a *SubscribeError with a reason,
// after events that each pass checkEvent and dispatch without panicking; no frame is
// longer than MaxEventSize (the default, or the small one the input picks), and reading
// allocates by the bytes sent, not by the lengths announced.
func FuzzEventStream(f *testing.F) {
	hb := eventFrame(f, &scheduler.Event{Type: scheduler.Event_HEARTBEAT})
	offers := eventFrame(f, &scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: []mesos.Offer{{
		ID: mesos.OfferID{Value: "o1"}, AgentID: mesos.AgentID{Value: "a1"}, FrameworkID: mesos.FrameworkID{Value: "fw-1"}, Hostname: "h",
		Resources: []mesos.Resource{scalar("cpus", 4)}}}}})
	state := mesos.TASK_RUNNING
	update := eventFrame(f, &scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: mesos.TaskStatus{
		TaskID: mesos.TaskID{Value: "t1"}, State: &state, UUID: []byte("0123456789abcdef")}}})
	withInfo := subscribedEvent(15)
	port := uint32(5050)
	withInfo.Subscribed.MasterInfo = &mesos.MasterInfo{ID: "m", IP: 1, Port: &port, Address: &mesos.Address{Hostname: proto("m1"), Port: 5050}}
	for _, seed := range []struct {
		stream []byte
		limit  uint16
	}{
		{bytes.Join([][]byte{eventFrame(f, withInfo), hb, offers, update}, nil), 0},
		{eventFrame(f, subscribedEvent(15)), 10},                            // larger than a small limit
		{eventFrame(f, &scheduler.Event{Type: scheduler.Event_OFFERS}), 0},  // without its field
		{eventFrame(f, &scheduler.Event{Type: scheduler.Event_MESSAGE}), 0}, // without its field
		{eventFrame(f, &scheduler.Event{Type: scheduler.Event_ERROR, Error: &scheduler.Event_Error{Message: "refused"}}), 0},
		{[]byte("1099511627776\n"), 0}, // announces 1 TiB
		{[]byte("67108864\nabc"), 0},   // announces 64 MiB, sends 3 bytes
		{[]byte("000000000000000000000\n"), 0},
		{[]byte("3\r\nabc"), 0},
		{[]byte("0\n0\n2\n\x08\x01"), 0},
	} {
		f.Add(seed.stream, seed.limit)
	}
	f.Fuzz(func(t *testing.T, stream []byte, smallLimit uint16) {
		limit := DefaultMaxEventSize
		if smallLimit > 0 {
			limit = int(smallLimit)
		}
		before := totalAlloc()
		readStream(t, stream, limit)
		if grew := totalAlloc() - before; grew > allocationAllowance(len(stream)) {
			t.Fatalf("reading %d bytes allocated %d", len(stream), grew)
		}
		frames := newFrameReader(bytes.NewReader(stream), limit)
		for {
			b, err := frames.next()
			if err != nil {
				break
			}
			if len(b) == 0 || len(b) > limit {
				t.Fatalf("a frame of %d bytes, limit %d", len(b), limit)
			}
		}
	})
}

// readStream reads and dispatches a stream's events as a subscription does, and checks
// how it ends.
func readStream(t *testing.T, stream []byte, limit int) {
	const url = "http://m:5050"
	c := &Connection{cfg: Config{HeartbeatMisses: 5}, handler: nopHandler{}, log: logr.Discard(), heartbeat: defaultHeartbeats}
	frames := newFrameReader(bytes.NewReader(stream), limit)
	for {
		e, err := nextEvent(url, frames)
		if err != nil {
			var se *SubscribeError
			if !errors.As(err, &se) || se.Reason == "" || se.Master != url {
				t.Fatalf("the stream ended with %v, not a SubscribeError naming the master", err)
			}
			return
		}
		if e == nil || checkEvent(e) != nil {
			t.Fatalf("nextEvent returned %v", e)
		}
		if e.GetType() == scheduler.Event_SUBSCRIBED {
			if hb := c.subscribed(attempt{master: url, answered: url}, e.GetSubscribed()); hb < defaultHeartbeats.min || hb > defaultHeartbeats.max {
				t.Fatalf("heartbeat interval %s", hb)
			}
		}
		if err := c.dispatch(context.Background(), e); err != nil && e.GetType() != scheduler.Event_ERROR {
			t.Fatalf("dispatching %s: %v", e.GetType(), err)
		}
	}
}

// contentTypes are the answers' content types the GET_AGENTS fuzzer picks from.
var contentTypes = []string{"application/x-protobuf", "application/json", "", "text/html"}

// FuzzGetAgents: any answer to GET_AGENTS (status, content type, body) is an error or
// agents that each have an id, never a panic; an answer larger than MaxResponseSize is
// refused, and reading allocates by the bytes read, not by the answer's length.
func FuzzGetAgents(f *testing.F) {
	resp := master.Response{Type: master.Response_GET_AGENTS, GetAgents: &master.Response_GetAgents{Agents: []master.Response_GetAgents_Agent{
		agentOf("a1", "host-1", true, scalar("cpus", 8), scalar("mem", 16384)), agentOf("", "no-id", true)}}}
	ok, err := resp.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []struct {
		status      uint16
		contentType uint8
		body        []byte
		limit       uint16
	}{
		{200, 0, ok, 0},
		{200, 0, ok, 16}, // larger than a small limit
		{200, 0, []byte{0x08, 0x63}, 0},
		{200, 1, []byte(`{"type":"GET_AGENTS"}`), 0},
		{200, 3, []byte("<html>"), 0},
		{307, 2, nil, 0},
		{401, 2, nil, 0},
		{503, 3, []byte("no leader"), 0},
	} {
		f.Add(seed.status, seed.contentType, seed.body, seed.limit)
	}
	f.Fuzz(func(t *testing.T, status uint16, contentType uint8, body []byte, smallLimit uint16) {
		limit := DefaultMaxResponseSize
		if smallLimit > 0 {
			limit = int(smallLimit)
		}
		mh := newMasterHTTP(Config{RequestTimeout: time.Second, MaxResponseSize: limit})
		mh.do = func(req *http.Request) (*http.Response, error) {
			if req.Body != nil {
				_, _ = io.Copy(io.Discard, req.Body)
				_ = req.Body.Close()
			}
			h := http.Header{}
			if ct := contentTypes[int(contentType)%len(contentTypes)]; ct != "" {
				h.Set("Content-Type", ct)
			}
			code := int(status)
			if code < 100 || code > 999 {
				code = 100 + code%900 // what net/http hands on: three digits
			}
			return &http.Response{StatusCode: code, Status: http.StatusText(code), Header: h, Request: req,
				Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}, nil
		}
		before := totalAlloc()
		agents, err := getAgents(context.Background(), mh, "http://m:5050")
		if grew := totalAlloc() - before; grew > allocationAllowance(min(len(body), limit)) {
			t.Fatalf("an answer of %d bytes (limit %d) allocated %d", len(body), limit, grew)
		}
		if err != nil {
			return
		}
		if len(body) > limit {
			t.Fatalf("an answer of %d bytes was read, more than MaxResponseSize (%d)", len(body), limit)
		}
		for _, a := range agents {
			if a.ID == "" {
				t.Fatalf("an agent without an id: %+v", a)
			}
		}
	})
}
