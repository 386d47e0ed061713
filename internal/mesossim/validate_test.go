package mesossim

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// TestSchedulerCallErrors: the scheduler endpoint's refusals word for word, as Mesos
// 1.12 words them (src/master/http.cpp: Master::Http::scheduler; validation.cpp:
// scheduler::call::validate; stout's protobuf::parse for JSON), beyond those the
// recorded transcripts hold.
func TestSchedulerCallErrors(t *testing.T) {
	m := startSim(t, Config{Agents: 1})
	for _, tc := range []struct {
		name, method, ct, accept, body string
		code                           int
		want                           string
	}{
		{"GET", http.MethodGet, mediaJSON, "", "", http.StatusMethodNotAllowed,
			"405 Method Not Allowed. Expecting one of { 'POST' }, but received 'GET'."},
		{"no content type", http.MethodPost, "", "", "{}", http.StatusBadRequest, "Expecting 'Content-Type' to be present"},
		{"missing required fields", http.MethodPost, mediaJSON, "", `{"type":"SUBSCRIBE","subscribe":{"framework_info":{}}}`, http.StatusBadRequest,
			"Failed to convert JSON into Call protobuf: Missing required fields: subscribe.framework_info.user, subscribe.framework_info.name"},
		{"empty required fields are present", http.MethodPost, mediaJSON, "text/html", `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"","name":""}}}`,
			http.StatusNotAcceptable, "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'"},
		{"not an object", http.MethodPost, mediaJSON, "", `[1]`, http.StatusBadRequest, "Failed to convert JSON into Call protobuf: Expecting a JSON object"},
		{"no type", http.MethodPost, mediaJSON, "", `{}`, http.StatusBadRequest, "Failed to validate scheduler::Call: Expecting 'type' to be present"},
		{"no framework id", http.MethodPost, mediaJSON, "", `{"type":"REVIVE"}`, http.StatusBadRequest,
			"Failed to validate scheduler::Call: Expecting 'framework_id' to be present"},
		{"kill without kill", http.MethodPost, mediaJSON, "", `{"type":"KILL","framework_id":{"value":"f"}}`, http.StatusBadRequest,
			"Failed to validate scheduler::Call: Expecting 'kill' to be present"},
		{"acknowledge with a short uuid", http.MethodPost, mediaJSON, "",
			`{"type":"ACKNOWLEDGE","framework_id":{"value":"f"},"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"AAEC"}}`,
			http.StatusBadRequest, "Failed to validate scheduler::Call: Not a valid UUID"},
		{"syntax error on line 2", http.MethodPost, mediaJSON, "", "{\n\"type\": x}", http.StatusBadRequest,
			"Failed to parse body into JSON: syntax error at line 2 near: }"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, m.URL()+"/api/v1/scheduler", bytes.NewReader([]byte(tc.body)))
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || string(body) != tc.want || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Fatalf("%d %q (%s), want %d %q", resp.StatusCode, body, resp.Header.Get("Content-Type"), tc.code, tc.want)
			}
		})
	}
}

// TestAcceptsMediaType: libprocess's Accept matching (Request::acceptsMediaType), and
// the scheduler endpoint's preference for JSON.
func TestAcceptsMediaType(t *testing.T) {
	for _, tc := range []struct {
		accept   []string
		protobuf bool
		ok       bool
	}{
		{nil, false, true},
		{[]string{"*/*"}, false, true},
		{[]string{"application/x-protobuf"}, true, true},
		{[]string{"application/x-protobuf, application/json"}, false, true},
		{[]string{"application/json;q=0, application/x-protobuf"}, true, true},
		{[]string{"application/*"}, false, true},
		{[]string{"text/html"}, false, false},
		{[]string{""}, false, false},
	} {
		r, _ := http.NewRequest(http.MethodPost, "/", nil)
		for _, a := range tc.accept {
			r.Header.Add("Accept", a)
		}
		if protobuf, ok := accepts(r); protobuf != tc.protobuf || ok != tc.ok {
			t.Errorf("Accept %q: protobuf %t ok %t, want %t %t", tc.accept, protobuf, ok, tc.protobuf, tc.ok)
		}
	}
}
