package framework

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/k8sm/k8sm/internal/mesossim"
)

func label(k, v string) mesos.Label { return mesos.Label{Key: k, Value: &v} }

func TestPickEarlier(t *testing.T) {
	want := []mesos.Label{label("cluster", "c1"), label("kube", "k1")}
	fw := func(id, principal string, connected bool, at int64, labels ...mesos.Label) master.Response_GetFrameworks_Framework {
		info := mesos.FrameworkInfo{ID: &mesos.FrameworkID{Value: id}, User: "root", Name: "k8sm", Labels: &mesos.Labels{Labels: labels}}
		if principal != "" {
			info.Principal = &principal
		}
		return master.Response_GetFrameworks_Framework{FrameworkInfo: info, Connected: connected, Active: connected,
			RegisteredTime: &mesos.TimeInfo{Nanoseconds: at}}
	}
	for _, tc := range []struct {
		name      string
		principal string
		list      []master.Response_GetFrameworks_Framework
		want      string
	}{
		{"none", "", nil, ""},
		{"disconnected, every label", "", []master.Response_GetFrameworks_Framework{fw("a", "", false, 1, want...)}, "a"},
		{"labels of more", "", []master.Response_GetFrameworks_Framework{fw("a", "", false, 1, append(want, label("x", "y"))...)}, "a"},
		{"a scheduler holds it", "", []master.Response_GetFrameworks_Framework{fw("a", "", true, 1, want...)}, ""},
		{"another cluster", "", []master.Response_GetFrameworks_Framework{fw("a", "", false, 1, label("cluster", "c2"), label("kube", "k1"))}, ""},
		{"another Kubernetes", "", []master.Response_GetFrameworks_Framework{fw("a", "", false, 1, label("cluster", "c1"), label("kube", "k2"))}, ""},
		{"a label missing", "", []master.Response_GetFrameworks_Framework{fw("a", "", false, 1, label("cluster", "c1"))}, ""},
		{"another principal", "p1", []master.Response_GetFrameworks_Framework{fw("a", "p2", false, 1, want...)}, ""},
		{"no principal where one is named", "p1", []master.Response_GetFrameworks_Framework{fw("a", "", false, 1, want...)}, ""},
		{"the same principal", "p1", []master.Response_GetFrameworks_Framework{fw("a", "p1", false, 1, want...)}, "a"},
		{"the last subscribed of two", "", []master.Response_GetFrameworks_Framework{fw("a", "", false, 1, want...), fw("b", "", false, 5, want...), fw("c", "", false, 3, want...)}, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pickEarlier(&master.Response_GetFrameworks{Frameworks: tc.list}, tc.principal, want); got != tc.want {
				t.Errorf("pickEarlier = %q, want %q", got, tc.want)
			}
		})
	}
}

// subscribeWith runs a Connection to masterURL with info and adopt until it subscribed,
// and returns it with the framework id it subscribed as.
func subscribeWith(t *testing.T, masterURL string, info mesos.FrameworkInfo, adopt []mesos.Label) (*Connection, context.CancelFunc, string) {
	t.Helper()
	h := newRecorder()
	c, err := New(Config{Master: masterURL, FrameworkInfo: info, Adopt: adopt, MinBackoff: 20 * time.Millisecond, Log: testr.New(t)}, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	deadline := time.After(20 * time.Second)
	for {
		h.mu.Lock()
		n := len(h.subscribed)
		var id string
		if n > 0 {
			id = h.subscribed[n-1]
		}
		h.mu.Unlock()
		if n > 0 {
			return c, stop, id
		}
		select {
		case <-h.got:
		case <-deadline:
			t.Fatalf("did not subscribe; disconnections %v", h.disconnected)
		}
	}
}

// A Connection with no framework id takes back the framework of its labels that no
// scheduler holds, through a non-leading master's redirect, rather than register a new
// one beside it; with a scheduler connected to it, or without Adopt, it registers a new
// framework.
func TestAConnectionTakesBackItsEarlierFramework(t *testing.T) {
	leader := startSim(t)
	follower, err := mesossim.StartFollower("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
	follower.SetLeader(leader.MasterInfo())
	labels := []mesos.Label{label("mesos.k8sm.io/mesoscluster", "c1"), label("mesos.k8sm.io/kubernetes-cluster", "k1")}
	info := mesos.FrameworkInfo{User: "root", Name: "k8sm", Labels: &mesos.Labels{Labels: labels}, FailoverTimeout: new(float64(3600))}

	first, stopFirst, id := subscribeWith(t, leader.URL(), info, labels)
	if first.Adopted() != "" {
		t.Errorf("the first framework says it was taken back (%q)", first.Adopted())
	}
	// While its scheduler holds it, another Connection of the same labels does not take it.
	_, stopHeld, other := subscribeWith(t, follower.URL(), info, labels)
	if other == id {
		t.Fatalf("took framework %s from the scheduler that holds it", id)
	}
	stopHeld()
	stopFirst() // the earlier manager is gone; Mesos keeps its framework
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		connected := 0
		for _, f := range leader.State().Frameworks {
			if f.Connected {
				connected++
			}
		}
		if connected == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the master still has %d frameworks connected", connected)
		}
	}

	c, _, again := subscribeWith(t, follower.URL(), info, labels)
	if again != other {
		t.Fatalf("subscribed as framework %s, want the earlier one subscribed last, %s (not %s, nor a new one)", again, other, id)
	}
	if c.Adopted() != again {
		t.Errorf("Adopted() = %q, want %q", c.Adopted(), again)
	}
	frameworks := len(leader.State().Frameworks)

	// Without Adopt, a new framework, as before.
	_, _, fresh := subscribeWith(t, leader.URL(), info, nil)
	if fresh == id || fresh == other {
		t.Errorf("without Adopt subscribed as the earlier framework %s", fresh)
	}
	if n := len(leader.State().Frameworks); n != frameworks+1 {
		t.Errorf("%d frameworks, want %d", n, frameworks+1)
	}
}
