package mesossim

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mastercalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"
)

// The operator API's TEARDOWN (Master::Http::teardown) removes a framework as its own
// TEARDOWN or its failover timeout does (Master::removeFramework): its tasks end
// TASK_KILLED without an update, its stream closes, and a later SUBSCRIBE with its id is
// refused, "Framework has been removed". The answer is 200 with no body; a framework the
// master does not know, or removed already, is a 400.
func TestOperatorTeardownRemovesTheFramework(t *testing.T) {
	m := startSim(t, execConfig())
	fi := info()
	s := newSched(t, m)
	s.subscribe(fi)
	s.launch(s.offer(""), testExecutor(t, "e1", "normal"), "t1")
	s.waitState("t1", mesos.TASK_RUNNING)

	if code, body := operatorTeardown(t, m, s.id); code != http.StatusOK || body != "" {
		t.Fatalf("TEARDOWN: %d %q, want 200 and no body", code, body)
	}
	if !waitRemoved(t, m, s.id) {
		t.Fatal("the framework is no longer listed: want it kept, removed")
	}
	if _, refused := newSchedWithID(t, m, s.id).subscribeUntil(fi); refused != "Framework has been removed" {
		t.Fatalf("SUBSCRIBE of the torn down framework: refused %q", refused)
	}
	for _, id := range []string{s.id, "no-such-framework"} {
		if code, body := operatorTeardown(t, m, id); code != http.StatusBadRequest || body != "No framework found with specified ID" {
			t.Errorf("TEARDOWN of %s: %d %q, want 400, No framework found with specified ID", id, code, body)
		}
	}
}

// operatorTeardown sends the operator API's TEARDOWN of a framework, as JSON.
func operatorTeardown(t *testing.T, m *Master, id string) (code int, body string) {
	t.Helper()
	call, err := marshalJSON(mastercalls.Teardown(mesos.FrameworkID{Value: id}))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(m.URL()+"/api/v1", mediaJSON, bytes.NewReader(call))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
