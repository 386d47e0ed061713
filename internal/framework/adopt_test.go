package framework

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
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
		{"of the same time, the greatest id", "", []master.Response_GetFrameworks_Framework{fw("b", "", false, 0, want...), fw("c", "", false, 0, want...), fw("a", "", false, 0, want...)}, "c"},
		{"one Mesos refused as removed", "", []master.Response_GetFrameworks_Framework{fw("removed", "", false, 9, want...), fw("a", "", false, 1, want...)}, "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pickEarlier(&master.Response_GetFrameworks{Frameworks: tc.list}, tc.principal, want, []string{"removed"}); got != tc.want {
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
	waitDisconnected(t, leader)

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

// operatorProxy passes every request to the master at target, but for GET_FRAMEWORKS:
// the first fail ones are answered 502, as a proxy in front of the masters may, and,
// when stale, the answer lists the frameworks Mesos removed as if it came before they
// were (not connected).
type operatorProxy struct {
	target *url.URL
	mu     sync.Mutex
	fail   int
	stale  bool
	asked  int
}

func (p *operatorProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rp := httputil.NewSingleHostReverseProxy(p.target)
	rp.FlushInterval = -1
	if r.URL.Path != "/api/v1" {
		rp.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var call master.Call
	if err := call.Unmarshal(body); err != nil || call.GetType() != master.Call_GET_FRAMEWORKS {
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
		return
	}
	p.mu.Lock()
	p.asked++
	fail, stale := p.fail > 0, p.stale
	if fail {
		p.fail--
	}
	p.mu.Unlock()
	if fail {
		http.Error(w, "Bad Gateway", http.StatusBadGateway)
		return
	}
	req, _ := http.NewRequest(http.MethodPost, p.target.String()+"/api/v1", bytes.NewReader(body))
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	out, _ := io.ReadAll(resp.Body)
	var answer master.Response
	if stale && answer.Unmarshal(out) == nil && answer.GetFrameworks != nil {
		for _, f := range answer.GetFrameworks.CompletedFrameworks {
			f.Connected, f.Active = false, false
			answer.GetFrameworks.Frameworks = append(answer.GetFrameworks.Frameworks, f)
		}
		answer.GetFrameworks.CompletedFrameworks = nil
		out, _ = answer.Marshal()
	}
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}

func (p *operatorProxy) askedTimes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.asked
}

// A failure to ask (a proxy's 502) is no answer: the attempt fails and the next asks
// again, rather than register a framework beside the earlier one. A framework Mesos
// removed between the answer and SUBSCRIBE ("Framework has been removed") is let go,
// and a new framework registered, with no word of a removal to the Driver's user.
func TestTakingBackSurvivesAFailureToAskAndARemoval(t *testing.T) {
	leader := startSim(t)
	u, _ := url.Parse(leader.URL())
	labels := []mesos.Label{label("mesos.k8sm.io/mesoscluster", "c1"), label("mesos.k8sm.io/kubernetes-cluster", "k1")}
	info := mesos.FrameworkInfo{User: "root", Name: "k8sm", Labels: &mesos.Labels{Labels: labels}, FailoverTimeout: new(float64(3600))}
	_, stop, earlier := subscribeWith(t, leader.URL(), info, labels)
	stop()
	waitDisconnected(t, leader)

	p := &operatorProxy{target: u, fail: 2}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	c, stopAgain, again := subscribeWith(t, srv.URL, info, labels)
	if again != earlier || c.Adopted() != earlier {
		t.Fatalf("after two 502s subscribed as %s (taken back %q), want the earlier %s", again, c.Adopted(), earlier)
	}
	if n := p.askedTimes(); n != 3 {
		t.Errorf("asked %d times, want 3", n)
	}
	stopAgain()
	waitDisconnected(t, leader)

	// Removed after the master's answer: SUBSCRIBE is refused as removed.
	teardown, _ := (&master.Call{Type: master.Call_TEARDOWN, Teardown: &master.Call_Teardown{FrameworkID: mesos.FrameworkID{Value: earlier}}}).Marshal()
	resp, err := http.Post(leader.URL()+"/api/v1", "application/x-protobuf", bytes.NewReader(teardown))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("TEARDOWN: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	stale := &operatorProxy{target: u, stale: true}
	srv2 := httptest.NewServer(stale)
	t.Cleanup(srv2.Close)
	h := newRecorder()
	d, err := New(Config{Master: srv2.URL, FrameworkInfo: info, Adopt: labels, MinBackoff: 20 * time.Millisecond, Log: testr.New(t)}, h)
	if err != nil {
		t.Fatal(err)
	}
	runConn(t, d)
	deadline := time.After(20 * time.Second)
	for !d.Subscribed() {
		select {
		case <-h.got:
		case <-deadline:
			t.Fatalf("did not subscribe; disconnections %v", h.disconnected)
		}
	}
	if id := d.FrameworkID(); id == earlier || d.Adopted() != "" {
		t.Errorf("subscribed as %s (taken back %q), want a new framework", id, d.Adopted())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, err := range h.disconnected {
		if IsRemoved(Refusal(err)) {
			t.Errorf("the Driver was told of a removal: %v", err)
		}
	}
}

func waitDisconnected(t *testing.T, m *mesossim.Master) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		connected := 0
		for _, f := range m.State().Frameworks {
			if f.Connected {
				connected++
			}
		}
		if connected == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the master still has %d frameworks connected", connected)
		}
	}
}

// offersRecorder is a recorder that keeps the offers.
type offersRecorder struct {
	*recorder
	offers chan []mesos.Offer
}

func (r offersRecorder) Offers(_ context.Context, o []mesos.Offer) {
	select {
	case r.offers <- o:
	default:
	}
}

// A master that failed over knows a framework only once one of its agents registers
// with it again: while it lists agents it recovered and has not seen again, its answer
// of no earlier framework is no answer yet. The cluster asks again, and takes the
// framework back once its agent is back, rather than register a new one beside it.
func TestTakingBackWaitsForTheAgentsOfAMasterThatFailedOver(t *testing.T) {
	leader := startSim(t)
	labels := []mesos.Label{label("mesos.k8sm.io/mesoscluster", "c1"), label("mesos.k8sm.io/kubernetes-cluster", "k1")}
	info := mesos.FrameworkInfo{User: "root", Name: "k8sm", Labels: &mesos.Labels{Labels: labels}, FailoverTimeout: new(float64(3600)),
		Checkpoint: new(true)}
	h := offersRecorder{recorder: newRecorder(), offers: make(chan []mesos.Offer, 10)}
	first, err := New(Config{Master: leader.URL(), FrameworkInfo: info, MinBackoff: 20 * time.Millisecond}, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); first.Run(ctx) }()
	var offers []mesos.Offer
	select {
	case offers = <-h.offers:
	case <-time.After(20 * time.Second):
		t.Fatal("no offer")
	}
	sh := "sleep 1000"
	task := mesos.TaskInfo{Name: "t1", TaskID: mesos.TaskID{Value: "t1"}, AgentID: offers[0].AgentID,
		Resources: []mesos.Resource{{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 0.1}}},
		Command:   &mesos.CommandInfo{Value: &sh}}
	if err := first.Launch(ctx, first.Subscription(), []mesos.OfferID{offers[0].ID}, []mesos.TaskInfo{task}, 0); err != nil {
		t.Fatal(err)
	}
	earlier := first.FrameworkID()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if st := leader.State(); len(st.Frameworks) == 1 && len(st.Frameworks[0].Tasks) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the task was not launched")
		}
	}
	cancel()
	<-done
	waitDisconnected(t, leader)

	if err := leader.DelayReregistration(time.Hour); err != nil {
		t.Fatal(err)
	}
	leader.FailoverMaster()
	c, err := New(Config{Master: leader.URL(), FrameworkInfo: info, Adopt: labels, MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}, newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	runConn(t, c)
	time.Sleep(200 * time.Millisecond) // a few attempts, while the agent has not registered
	if c.Subscribed() {
		t.Fatalf("subscribed as %s while the master had not seen the earlier framework's agent again", c.FrameworkID())
	}
	for _, a := range leader.State().Agents {
		if err := leader.ReregisterAgent(a.Hostname); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(20 * time.Second); !c.Subscribed(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("did not subscribe once the agent was back")
		}
	}
	if c.FrameworkID() != earlier || c.Adopted() != earlier {
		t.Errorf("subscribed as %s (taken back %q), want the earlier %s", c.FrameworkID(), c.Adopted(), earlier)
	}
}
