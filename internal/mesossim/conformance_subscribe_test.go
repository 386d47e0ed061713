package mesossim

import (
	"net/http"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mastercalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// What a framework may change of its FrameworkInfo when it subscribes again (Mesos:
// src/master/master.cpp Master::_subscribe for a known framework id; validation.cpp
// framework::preserveImmutableFields, then framework::validateUpdate).

// frameworkInfoOf is the FrameworkInfo GET_FRAMEWORKS shows for a framework.
func frameworkInfoOf(t *testing.T, m *Master, id string) mesos.FrameworkInfo {
	t.Helper()
	r := operatorCall(t, m.URL(), mediaProtobuf, mastercalls.GetFrameworks())
	for _, f := range r.GetFrameworks.Frameworks {
		if f.FrameworkInfo.GetID().GetValue() == id {
			return f.FrameworkInfo
		}
	}
	t.Fatalf("GET_FRAMEWORKS does not list framework %s: %+v", id, r.GetFrameworks)
	return mesos.FrameworkInfo{}
}

// withPrincipal is info() with a principal, or none for "".
func withPrincipal(principal string) mesos.FrameworkInfo {
	fi := info()
	if principal != "" {
		fi.Principal = ptr(principal)
	}
	return fi
}

// preserveImmutableFields: a framework subscribing again with another user or
// checkpointing is accepted, but keeps the old ones, and is not told.
func TestConformanceResubscribeKeepsUserAndCheckpoint(t *testing.T) {
	m := startSim(t, Config{Agents: 1})
	fi := info()
	fi.Checkpoint = ptr(true)
	first := newSched(t, m)
	first.subscribe(fi)

	changed := info()
	changed.User, changed.Checkpoint, changed.Name = "nobody", ptr(false), "renamed"
	second := newSchedWithID(t, m, first.id)
	second.subscribe(changed)
	if msg := first.streamClosed(); msg != "Framework failed over" {
		t.Fatalf("the first stream ended with %q, want \"Framework failed over\"", msg)
	}
	got := frameworkInfoOf(t, m, first.id)
	if got.User != "root" || got.Checkpoint == nil || !*got.Checkpoint {
		t.Fatalf("after subscribing with user nobody, checkpoint false: user %q, checkpoint %v; want the old root, true", got.User, got.Checkpoint)
	}
	if got.Name != "renamed" {
		t.Fatalf("name %q: the other fields are taken, want \"renamed\"", got.Name)
	}
}

// validateUpdate: a framework subscribing again with another principal — set, changed or
// left out — gets ERROR "Changing framework's principal is not allowed." on a stream that
// then closes; the subscription it holds goes on untouched.
func TestConformanceResubscribeMayNotChangePrincipal(t *testing.T) {
	for _, tc := range []struct{ name, before, after string }{
		{"changed", "p1", "p2"},
		{"set", "", "p1"},
		{"left out", "p1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := startSim(t, Config{Agents: 1})
			first := newSched(t, m)
			first.subscribe(withPrincipal(tc.before))
			second := newSchedWithID(t, m, first.id)
			if _, refused := second.subscribeUntil(withPrincipal(tc.after)); refused != "Changing framework's principal is not allowed." {
				t.Fatalf("SUBSCRIBE with principal %q after %q: refused %q", tc.after, tc.before, refused)
			}
			second.streamClosed()
			// The first subscription holds: its stream id still works, and it was not
			// failed over.
			first.mustCall(calls.Revive())
			for deadline := time.After(300 * time.Millisecond); ; {
				select {
				case e, open := <-first.events:
					if !open || e.Type == scheduler.Event_ERROR {
						t.Fatalf("the first subscription ended (%v)", e)
					}
					continue
				case <-deadline:
				}
				break
			}
			if got := frameworkInfoOf(t, m, first.id); got.GetPrincipal() != tc.before || (got.Principal == nil) != (tc.before == "") {
				t.Fatalf("principal after the refusal: %v, want %q", got.Principal, tc.before)
			}
		})
	}
}

// After a master failover the new master knows a framework through the tasks its agents
// report, with the FrameworkInfo they hold (Master::updateSlaveFrameworks,
// recoverFramework): a new principal is refused as before. A framework it has not heard
// of (no task on a registered agent) is recovered from the SUBSCRIBE itself, whatever
// its principal.
func TestConformancePrincipalAfterMasterFailover(t *testing.T) {
	m := startSim(t, Config{Agents: 1})
	withTask := newSched(t, m)
	withTask.subscribe(withPrincipal("p1"))
	o := withTask.offer("")
	withTask.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(taskOn("t1", o.AgentID, 0.5))}.WithOffers(o.ID)))
	withTask.waitState("t1", mesos.TASK_RUNNING)
	idle := newSched(t, m)
	idle.subscribe(withPrincipal("p1"))

	m.FailoverMaster()
	withTask.streamClosed()
	idle.streamClosed()
	if _, refused := withTask.subscribeUntil(withPrincipal("p2")); refused != "Changing framework's principal is not allowed." {
		t.Fatalf("framework known through its agent, new principal: refused %q", refused)
	}
	if _, refused := idle.subscribeUntil(withPrincipal("p2")); refused != "" {
		t.Fatalf("framework the new master does not know, new principal: refused %q", refused)
	}
	if got := frameworkInfoOf(t, m, idle.id); got.GetPrincipal() != "p2" {
		t.Fatalf("principal %q, want p2", got.GetPrincipal())
	}
	if code := post(t, m.URL(), mediaProtobuf, "", "", marshal(t, calls.Revive().With(calls.Framework(withTask.id)))).StatusCode; code != http.StatusForbidden {
		t.Fatalf("a call of the refused framework = %d, want 403 (known, not subscribed)", code)
	}
}
