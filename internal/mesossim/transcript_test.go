package mesossim

// Differential conformance: every transcript recorded from Apache Mesos 1.12 (one
// master, one agent; testdata/transcripts, see its README) is replayed against the sim,
// call by call, in JSON as recorded and again in protobuf, and what the sim answers is
// held against what Mesos answered: HTTP status, the headers the recorder kept
// (Content-Type, Content-Length or chunked, whether a Mesos-Stream-Id came), error
// bodies word for word, and every event — its type, order, field names, structure and
// values (states, reasons, sources, messages), with the recorder's placeholders
// standing for ids (bound on first sight, the same thereafter) and for volatile values
// (any). A difference is a sim bug unless docs/mesos-mapping.md says why it cannot
// matter; the one allowance made here, the order of an offer's resources, is there.
//
// The transcripts are copies of ../shared/mesos-transcripts, kept in the repository so
// that the specs run from any checkout; TestTranscriptsMatchShared fails when the two
// differ where ../shared is present, so a new recording is not silently left out.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/recordio"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

const transcriptDir = "testdata/transcripts"

type transcript struct {
	Scenario    string `json:"scenario"`
	Description string `json:"description"`
	Steps       []struct {
		Kind    string          `json:"kind"`
		Name    string          `json:"name"`
		Request *recordedCall   `json:"request"`
		Reply   *recordedAnswer `json:"response"`
		Event   json.RawMessage `json:"event"`
	} `json:"steps"`
}

type recordedCall struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
	BodyRaw *string           `json:"body_raw"`
}

type recordedAnswer struct {
	Status  int             `json:"status"`
	Headers map[string]any  `json:"headers"`
	Body    json.RawMessage `json:"body"`
}

func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(transcriptDir, "*.json"))
	if err != nil || len(files) < 6 {
		t.Fatalf("transcripts in %s: %v %v", transcriptDir, files, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tr transcript
		if err := json.Unmarshal(data, &tr); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, codec := range []string{mediaJSON, mediaProtobuf} {
			t.Run(tr.Scenario+"/"+strings.TrimPrefix(codec, "application/"), func(t *testing.T) {
				t.Parallel()
				r := newReplay(t, codec == mediaProtobuf)
				r.run(tr)
			})
		}
	}
}

// TestTranscriptsMatchShared: the copies are those of ../shared/mesos-transcripts, when
// it is there (CI keeps it beside the repository).
func TestTranscriptsMatchShared(t *testing.T) {
	shared := filepath.Join("..", "..", "..", "shared", "mesos-transcripts")
	files, _ := filepath.Glob(filepath.Join(shared, "*"))
	if len(files) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing in CI", shared)
		}
		t.Skipf("%s is not beside the repository", shared)
	}
	for _, f := range files {
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(filepath.Join(transcriptDir, filepath.Base(f)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs from its copy in %s (%v): copy it again", f, transcriptDir, err)
		}
	}
}

// replay drives one transcript against a fresh sim.
type replay struct {
	t        *testing.T
	m        *Master
	protobuf bool
	b        bindings
	stream   chan any // events of the latest SUBSCRIBE, decoded as JSON; closed at its end
	streamID string   // of the first subscription: <stream-id> in a call
	lastUUID string   // of the latest UPDATE: <uuid> in an ACKNOWLEDGE
}

func newReplay(t *testing.T, protobuf bool) *replay {
	// As the recording: one agent with Mesos's default resources, heartbeats every 15s.
	m := startSim(t, Config{Agents: 1, HeartbeatInterval: 15 * time.Second, AllocationInterval: 100 * time.Millisecond})
	return &replay{t: t, m: m, protobuf: protobuf, b: bindings{}}
}

func (r *replay) run(tr transcript) {
	for i, st := range tr.Steps {
		switch st.Kind {
		case "http":
			if r.protobuf && st.Request.BodyRaw != nil {
				continue // a body that is not JSON: nothing to say in protobuf
			}
			r.drain(false)
			r.call(st.Name, st.Request, st.Reply)
		case "event":
			r.expectEvent(i, decodeJSON(r.t, st.Event))
		case "stream_closed":
			r.expectClosed(i)
		}
	}
	r.drain(true)
}

// call sends one recorded call, filled with the sim's ids, and compares the answer.
func (r *replay) call(name string, rc *recordedCall, want *recordedAnswer) {
	t := r.t
	body, ct := r.requestBody(name, rc)
	req, _ := http.NewRequest(rc.Method, r.m.URL()+rc.Path, bytes.NewReader(body))
	for k, v := range rc.Headers {
		v = strings.ReplaceAll(v, "<stream-id>", r.streamID)
		if r.protobuf && v == mediaJSON {
			v = mediaProtobuf
		}
		req.Header.Set(k, v)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if resp.StatusCode != want.Status {
		t.Errorf("%s: HTTP %d, want %d", name, resp.StatusCode, want.Status)
	}
	r.compareHeaders(name, resp, want.Headers)
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(name, "SUBSCRIBE") {
		if r.streamID == "" {
			r.streamID = resp.Header.Get("Mesos-Stream-Id")
		}
		r.stream = r.readStream(resp)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	var got bytes.Buffer
	_, _ = got.ReadFrom(resp.Body)
	var wantBody string
	if err := json.Unmarshal(want.Body, &wantBody); err != nil {
		t.Fatalf("%s: recorded body %s: %v", name, want.Body, err)
	}
	for _, d := range diffString("body", wantBody, got.String(), r.b) {
		t.Errorf("%s: %s", name, d)
	}
}

// requestBody is a recorded call's body with the sim's ids, in the replay's codec, and
// the content type to send if it is to change.
func (r *replay) requestBody(name string, rc *recordedCall) ([]byte, string) {
	t := r.t
	if rc.BodyRaw != nil {
		return []byte(*rc.BodyRaw), ""
	}
	v := substitute(decodeJSON(t, rc.Body), r.lookup)
	if strings.Contains(name, "wrong (unknown) framework id") {
		// The recorder's placeholder hid the id it made up: any id the master never gave.
		v.(map[string]any)["framework_id"] = map[string]any{"value": r.b["<framework-id>"] + "-unknown"}
	}
	data, _ := json.Marshal(v)
	if !r.protobuf || rc.Headers["Content-Type"] != mediaJSON {
		return data, ""
	}
	var call scheduler.Call
	if err := json.Unmarshal(data, &call); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	pb, err := call.Marshal()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return pb, mediaProtobuf
}

// lookup is what a placeholder of a recorded call stands for in this replay.
func (r *replay) lookup(p string) string {
	switch p {
	case "<uuid>":
		return r.lastUUID
	case "<stream-id>":
		return r.streamID
	}
	if v, ok := r.b[p]; ok {
		return v
	}
	r.t.Fatalf("placeholder %s used before the sim gave it a value", p)
	return ""
}

// compareHeaders checks the headers the recorder kept: each as recorded, and those it
// did not list (Content-Type, Content-Length, chunked) absent.
func (r *replay) compareHeaders(name string, resp *http.Response, want map[string]any) {
	chunked := len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"
	got := map[string]any{"Mesos-Stream-Id_present": resp.Header.Get("Mesos-Stream-Id") != ""}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		got["Content-Type"] = ct
	}
	if cl := resp.Header.Get("Content-Length"); cl != "" {
		got["Content-Length"] = cl
	}
	if chunked {
		got["Transfer-Encoding"] = "chunked"
	}
	w := map[string]any{}
	for k, v := range want {
		if r.protobuf && k == "Content-Type" && v == mediaJSON {
			v = mediaProtobuf
		}
		w[k] = v
	}
	for _, d := range diff("headers", w, got, r.b) {
		r.t.Errorf("%s: %s", name, d)
	}
}

// readStream decodes a subscription's events as JSON maps until it ends.
func (r *replay) readStream(resp *http.Response) chan any {
	out := make(chan any, 256)
	go func() {
		defer close(out)
		defer func() { _ = resp.Body.Close() }()
		rd := recordio.NewReader(resp.Body)
		for {
			frame, err := rd.ReadFrame()
			if err != nil {
				return
			}
			if r.protobuf {
				var e scheduler.Event
				if e.Unmarshal(frame) != nil {
					return
				}
				if frame, err = marshalJSON(&e); err != nil {
					return
				}
			}
			var v any
			dec := json.NewDecoder(bytes.NewReader(frame))
			dec.UseNumber()
			if dec.Decode(&v) != nil {
				return
			}
			out <- v
		}
	}()
	return out
}

// eventType is an event's type, "" for anything else.
func eventType(e any) string {
	m, _ := e.(map[string]any)
	s, _ := m["type"].(string)
	return s
}

// skippable events come at times the recordings do not fix: HEARTBEATs, and OFFERS
// after the first (both left out of most transcripts, as their README says).
func skippable(typ string) bool { return typ == "HEARTBEAT" || typ == "OFFERS" }

// expectEvent waits for the recorded event on the latest stream. HEARTBEATs and OFFERS
// that were not recorded are passed over (offers declined, so that the agent is offered
// whole again as it was to Mesos's recorder); an expected OFFERS is the first one that
// matches; any other event in between is a difference.
func (r *replay) expectEvent(step int, want any) {
	t := r.t
	typ := eventType(want)
	deadline := time.After(10 * time.Second)
	var last []string
	for {
		select {
		case e, open := <-r.stream:
			if !open {
				t.Fatalf("step %d: the stream ended; want %s %v", step, typ, want)
			}
			got := eventType(e)
			if got != typ && skippable(got) {
				r.declineOffers(e)
				continue
			}
			if got != typ {
				t.Fatalf("step %d: event %s %v; want %s %v", step, got, e, typ, want)
			}
			trial := r.b.clone()
			if last = diff("event", want, e, trial); len(last) == 0 {
				r.b = trial
				r.noteUUID(e)
				return
			}
			if typ != "OFFERS" {
				t.Fatalf("step %d: %s differs from Mesos's:\n  %s", step, typ, strings.Join(last, "\n  "))
			}
			r.declineOffers(e)
		case <-deadline:
			t.Fatalf("step %d: no %s like Mesos's; last seen differs:\n  %s", step, typ, strings.Join(last, "\n  "))
		}
	}
}

// noteUUID keeps the uuid of an UPDATE, which the next ACKNOWLEDGE names.
func (r *replay) noteUUID(e any) {
	if eventType(e) != "UPDATE" {
		return
	}
	st, _ := e.(map[string]any)["update"].(map[string]any)["status"].(map[string]any)
	if u, ok := st["uuid"].(string); ok {
		r.lastUUID = u
	}
}

// expectClosed waits for the latest stream to end, as Mesos ended it.
func (r *replay) expectClosed(step int) {
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e, open := <-r.stream:
			if !open {
				return
			}
			if !skippable(eventType(e)) {
				r.t.Fatalf("step %d: event %v; want the stream to end", step, e)
			}
		case <-deadline:
			r.t.Fatalf("step %d: the stream did not end", step)
		}
	}
}

// drain takes the events that arrived, failing on any the transcript does not have;
// at the end it waits a little for late ones.
func (r *replay) drain(end bool) {
	wait := time.Duration(0)
	if end {
		wait = 300 * time.Millisecond
	}
	timeout := time.After(wait)
	for {
		select {
		case e, open := <-r.stream:
			if !open {
				r.stream = nil
				return
			}
			if !skippable(eventType(e)) {
				r.t.Errorf("an event Mesos did not send here: %v", e)
			}
			if !end {
				r.declineOffers(e)
			}
		case <-timeout:
			return
		}
	}
}

// declineOffers declines the offers of an OFFERS event the transcript left out.
func (r *replay) declineOffers(e any) {
	if eventType(e) != "OFFERS" {
		return
	}
	offers, _ := e.(map[string]any)["offers"].(map[string]any)["offers"].([]any)
	var ids []any
	for _, o := range offers {
		ids = append(ids, o.(map[string]any)["id"])
	}
	call := map[string]any{"type": "DECLINE", "framework_id": map[string]any{"value": r.b["<framework-id>"]},
		"decline": map[string]any{"offer_ids": ids, "filters": map[string]any{"refuse_seconds": 0}}}
	data, _ := json.Marshal(call)
	req, _ := http.NewRequest(http.MethodPost, r.m.URL()+"/api/v1/scheduler", bytes.NewReader(data))
	req.Header.Set("Content-Type", mediaJSON)
	req.Header.Set("Mesos-Stream-Id", r.currentStreamID())
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_ = resp.Body.Close()
	}
}

// currentStreamID is the framework's stream id now, from the master's side.
func (r *replay) currentStreamID() string {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if fw := r.m.frameworks[r.b["<framework-id>"]]; fw != nil && fw.stream != nil {
		return fw.stream.id
	}
	return ""
}
