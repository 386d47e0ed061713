package executor

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"github.com/mesos/mesos-go/api/v1/lib/recordio"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeAgent serves the executor API of one agent: it records SUBSCRIBE and UPDATE calls
// and streams the events a test gives it. A stream ends when the test cuts it.
type fakeAgent struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	subscribes []*mexec.Call_Subscribe
	updates    []mesos.TaskStatus
	// arrivals are the updates the agent took, from UPDATEs and from the SUBSCRIBEs it
	// accepted, in the order it took them (Mesos's status update manager's order).
	arrivals   []mesos.TaskStatus
	stream     chan *mexec.Event // events for the current stream
	cut        chan struct{}     // closed to end the current stream abruptly
	down       bool              // refuse calls with 503
	recovering bool              // refuse UPDATEs with 503, as an agent finishing recovery
	refused    int               // UPDATEs refused so
	subscribed chan int          // the number of each subscription, as it happens
	messages   [][]byte          // the data of each MESSAGE call
	acks       bool              // acknowledge each UPDATE taken, on the current stream
	slow       time.Duration     // how long an UPDATE takes to be taken (0: at once)
	// shutdownFirst answers SUBSCRIBE with SHUTDOWN instead of SUBSCRIBED, as an agent
	// does an executor whose every task was killed before it subscribed.
	shutdownFirst bool
	// token, when set, is the bearer token every call must carry (an agent with
	// --authenticate_http_executors): any other call gets 401, counted in unauthorized.
	token        string
	unauthorized int
	// framework is the FrameworkInfo SUBSCRIBED carries.
	framework mesos.FrameworkInfo
}

func newFakeAgent(t *testing.T) *fakeAgent {
	a := &fakeAgent{t: t, subscribed: make(chan int, 16)}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *fakeAgent) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	if a.token != "" && r.Header.Get("Authorization") != "Bearer "+a.token {
		a.unauthorized++
		a.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Bearer realm="mesos-agent-executor"`)
		http.Error(w, "401 Unauthorized.", http.StatusUnauthorized)
		return
	}
	a.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	var call mexec.Call
	if err := call.Unmarshal(body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	if a.down {
		a.mu.Unlock()
		http.Error(w, "Agent is recovering", http.StatusServiceUnavailable)
		return
	}
	switch call.GetType() {
	case mexec.Call_UPDATE:
		if a.recovering {
			a.refused++
			a.mu.Unlock()
			http.Error(w, "Agent has not finished recovery", http.StatusServiceUnavailable)
			return
		}
		a.mu.Unlock()
		a.takeUpdate(r, call.GetUpdate().Status)
		w.WriteHeader(http.StatusAccepted)
		return
	case mexec.Call_SUBSCRIBE:
	case mexec.Call_MESSAGE:
		a.messages = append(a.messages, call.GetMessage().Data)
		a.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		return
	default:
		a.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		return
	}
	a.subscribes = append(a.subscribes, call.GetSubscribe())
	for _, u := range call.GetSubscribe().UnacknowledgedUpdates {
		a.arrivals = append(a.arrivals, u.Status)
	}
	n := len(a.subscribes)
	events, cut := make(chan *mexec.Event, 16), make(chan struct{})
	a.stream, a.cut = events, cut
	framework := a.framework
	a.mu.Unlock()

	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
	writer := recordio.NewWriter(w)
	send := func(e *mexec.Event) bool {
		b, err := e.Marshal()
		if err != nil {
			a.t.Error(err)
			return false
		}
		if err := writer.WriteFrame(b); err != nil {
			return false
		}
		w.(http.Flusher).Flush()
		return true
	}
	first := &mexec.Event{Type: mexec.Event_SUBSCRIBED, Subscribed: &mexec.Event_Subscribed{
		FrameworkInfo: framework, AgentInfo: mesos.AgentInfo{Hostname: "agent-1"}}}
	if a.shutdownFirst {
		first = &mexec.Event{Type: mexec.Event_SHUTDOWN}
	}
	if !send(first) {
		return
	}
	a.subscribed <- n
	for {
		select {
		case e := <-events:
			if !send(e) {
				return
			}
		case <-cut:
			// Drop the connection without ending the chunked body, as a dying agent does.
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					_ = c.Close()
				}
			}
			return
		case <-r.Context().Done():
			return
		}
	}
}

// takeUpdate records an UPDATE, after a.slow, and acknowledges it when a.acks.
func (a *fakeAgent) takeUpdate(r *http.Request, st mesos.TaskStatus) {
	a.mu.Lock()
	slow := a.slow
	a.mu.Unlock()
	if slow > 0 {
		select {
		case <-time.After(slow):
		case <-r.Context().Done():
			return
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.updates = append(a.updates, st)
	a.arrivals = append(a.arrivals, st)
	if a.acks {
		a.stream <- &mexec.Event{Type: mexec.Event_ACKNOWLEDGED, Acknowledged: &mexec.Event_Acknowledged{TaskID: st.TaskID, UUID: st.UUID}}
	}
}

// send queues an event on the current stream.
func (a *fakeAgent) send(e *mexec.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stream <- e
}

// restart ends the current stream abruptly; down says whether calls fail until up().
func (a *fakeAgent) restart(down bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.down = down
	close(a.cut)
}

func (a *fakeAgent) up() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.down = false
}

func (a *fakeAgent) waitSubscription(t *testing.T, n int) *mexec.Call_Subscribe {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case got := <-a.subscribed:
			if got >= n {
				a.mu.Lock()
				defer a.mu.Unlock()
				return a.subscribes[got-1]
			}
		case <-deadline:
			t.Fatalf("no subscription #%d", n)
		}
	}
}

func (a *fakeAgent) statesOf(taskID string) []mesos.TaskState {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []mesos.TaskState
	for _, u := range a.updates {
		if u.TaskID.Value == taskID {
			out = append(out, u.GetState())
		}
	}
	return out
}

// arrivalsOf is the states of a task's updates in the order the agent first took them:
// an update taken again (its uuid) is a duplicate, which the agent ignores.
func (a *fakeAgent) arrivalsOf(taskID string) []mesos.TaskState {
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := map[string]bool{}
	var out []mesos.TaskState
	for _, u := range a.arrivals {
		if u.TaskID.Value == taskID && !seen[string(u.UUID)] {
			seen[string(u.UUID)] = true
			out = append(out, u.GetState())
		}
	}
	return out
}

// fakeRuntime "runs" a pod by reporting it Running, and Killed when killed.
type fakeRuntime struct{}

type fakeHandle struct{ report func(Report) }

func (fakeRuntime) Start(_ *corev1.Pod, _ string, report func(Report)) (Handle, error) {
	go report(Report{Status: corev1.PodStatus{Phase: corev1.PodRunning}})
	return fakeHandle{report}, nil
}

func (fakeRuntime) Supports(*corev1.Volume) bool { return true }

func (h fakeHandle) Kill(time.Duration) {
	h.report(Report{Killed: true, Status: corev1.PodStatus{Phase: corev1.PodFailed}})
}

func podTask(t *testing.T, id string) mesos.TaskInfo {
	t.Helper()
	pod := corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"}}}}}
	data, err := json.Marshal(&pod)
	if err != nil {
		t.Fatal(err)
	}
	return mesos.TaskInfo{Name: "p", TaskID: mesos.TaskID{Value: id}, AgentID: mesos.AgentID{Value: "a1"}, Data: data}
}

func startExecutor(t *testing.T, a *fakeAgent, checkpoint bool, recovery time.Duration) (*Executor, chan error) {
	t.Helper()
	return startExecutorWith(t, a, &Executor{Config: config.Config{Checkpoint: checkpoint, RecoveryTimeout: recovery}})
}

// startExecutorWith runs e, given its settings for the fake agent (and checkpointing
// with a 5 s recovery timeout unless e says otherwise).
func startExecutorWith(t *testing.T, a *fakeAgent, e *Executor) (*Executor, chan error) {
	t.Helper()
	if e.Config.RecoveryTimeout == 0 {
		e.Config.Checkpoint, e.Config.RecoveryTimeout = true, 5*time.Second
	}
	e.Config.FrameworkID, e.Config.ExecutorID, e.Config.AgentEndpoint = "fw", "ex", a.srv.Listener.Addr().String()
	e.Config.Sandbox, e.Config.SubscriptionBackoffMax = t.TempDir(), 50*time.Millisecond
	if e.Config.ExecutorShutdownGracePeriod == 0 {
		e.Config.ExecutorShutdownGracePeriod = time.Second
	}
	if e.Runtime == nil {
		e.Runtime = fakeRuntime{}
	}
	if e.Log.GetSink() == nil {
		e.Log = logr.Discard()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done, finished := make(chan error, 1), make(chan struct{})
	go func() { done <- e.Run(ctx); close(finished) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			t.Error("the executor did not stop")
		}
	})
	return e, done
}

// unacked counts the updates the executor still keeps for resending.
func unacked(e *Executor) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.unacked) + len(e.unackedTasks)
}

func waitStates(t *testing.T, a *fakeAgent, id string, want ...mesos.TaskState) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := a.statesOf(id)
		if len(got) >= len(want) {
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("task %s updates %v, want %v first", id, got, want)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s updates %v, want %v", id, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// With checkpointing, an agent restart (its connection dropped, calls refused for a
// while) makes the executor subscribe again, resending the task and the updates the
// agent never acknowledged; its pods keep running.
func TestResubscribesAfterAnAgentRestart(t *testing.T) {
	a := newFakeAgent(t)
	e, done := startExecutor(t, a, true, 5*time.Second)
	if first := a.waitSubscription(t, 1); len(first.UnacknowledgedTasks) != 0 || len(first.UnacknowledgedUpdates) != 0 {
		t.Fatalf("first SUBSCRIBE resends %+v", first)
	}
	a.send(&mexec.Event{Type: mexec.Event_LAUNCH, Launch: &mexec.Event_Launch{Task: podTask(t, "t1")}})
	waitStates(t, a, "t1", mesos.TASK_STARTING, mesos.TASK_RUNNING)

	a.restart(true)
	time.AfterFunc(300*time.Millisecond, a.up)
	second := a.waitSubscription(t, 2)
	if len(second.UnacknowledgedTasks) != 1 || second.UnacknowledgedTasks[0].TaskID.Value != "t1" {
		t.Errorf("resubscription resends tasks %+v, want t1", second.UnacknowledgedTasks)
	}
	var states []mesos.TaskState
	for _, u := range second.UnacknowledgedUpdates {
		states = append(states, u.Status.GetState())
	}
	if len(states) != 2 || states[0] != mesos.TASK_STARTING || states[1] != mesos.TASK_RUNNING {
		t.Errorf("resubscription resends updates %v, want STARTING then RUNNING", states)
	}

	// Acknowledged now: the next resubscription resends nothing.
	for _, u := range second.UnacknowledgedUpdates {
		a.send(&mexec.Event{Type: mexec.Event_ACKNOWLEDGED, Acknowledged: &mexec.Event_Acknowledged{TaskID: u.Status.TaskID, UUID: u.Status.UUID}})
	}
	for deadline := time.Now().Add(10 * time.Second); unacked(e) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d updates and tasks still unacknowledged", unacked(e))
		}
	}
	a.restart(false)
	if third := a.waitSubscription(t, 3); len(third.UnacknowledgedTasks) != 0 || len(third.UnacknowledgedUpdates) != 0 {
		t.Errorf("after the acknowledgements a resubscription resends %d tasks and %d updates", len(third.UnacknowledgedTasks), len(third.UnacknowledgedUpdates))
	}
	select {
	case err := <-done:
		t.Fatalf("the executor exited: %v", err)
	default:
	}
}

// The recovery clock starts when a subscription ends, not when the executor started: an
// executor that ran longer than the recovery timeout still recovers.
func TestRecoversAfterRunningLongerThanTheRecoveryTimeout(t *testing.T) {
	a := newFakeAgent(t)
	_, done := startExecutor(t, a, true, 500*time.Millisecond)
	a.waitSubscription(t, 1)
	time.Sleep(700 * time.Millisecond) // run past the recovery timeout
	a.restart(true)
	time.AfterFunc(100*time.Millisecond, a.up)
	a.waitSubscription(t, 2)
	select {
	case err := <-done:
		t.Fatalf("the executor gave up: %v", err)
	default:
	}
}

// Without checkpointing the executor does not outlive its agent: it kills its pods and
// exits when the connection is lost. With it, it gives up after the recovery timeout.
func TestGivesUpWithoutCheckpointingOrAfterTheRecoveryTimeout(t *testing.T) {
	for _, tc := range []struct {
		name       string
		checkpoint bool
	}{{"no checkpointing", false}, {"recovery timeout", true}} {
		t.Run(tc.name, func(t *testing.T) {
			a := newFakeAgent(t)
			_, done := startExecutor(t, a, tc.checkpoint, 300*time.Millisecond)
			a.waitSubscription(t, 1)
			a.send(&mexec.Event{Type: mexec.Event_LAUNCH, Launch: &mexec.Event_Launch{Task: podTask(t, "t1")}})
			waitStates(t, a, "t1", mesos.TASK_STARTING, mesos.TASK_RUNNING)
			a.restart(true) // and never up again
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("the executor exited without an error")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the executor did not give up")
			}
		})
	}
}

// Updates the agent refuses while it finishes recovering (503) are sent again, in order,
// without waiting for another subscription.
func TestResendsUpdatesTheAgentRefused(t *testing.T) {
	a := newFakeAgent(t)
	_, done := startExecutor(t, a, true, 5*time.Second)
	a.waitSubscription(t, 1)
	a.mu.Lock()
	a.recovering = true
	a.mu.Unlock()
	a.send(&mexec.Event{Type: mexec.Event_LAUNCH, Launch: &mexec.Event_Launch{Task: podTask(t, "t1")}})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		a.mu.Lock()
		refused := a.refused
		if refused > 0 {
			a.recovering = false
		}
		a.mu.Unlock()
		if refused > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the executor sent no update")
		}
	}
	waitStates(t, a, "t1", mesos.TASK_STARTING, mesos.TASK_RUNNING)
	a.mu.Lock()
	n := len(a.subscribes)
	a.mu.Unlock()
	if n != 1 {
		t.Errorf("%d subscriptions: the updates must go out without subscribing again", n)
	}
	select {
	case err := <-done:
		t.Fatalf("the executor exited: %v", err)
	default:
	}
}

// Between attempts to subscribe again the executor waits a random time up to
// MESOS_SUBSCRIPTION_BACKOFF_MAX, as Mesos's executor libraries do, however many attempts
// failed: the agent sets that to the time it gives its executors to come back after a
// restart, and a wait that grew to it could miss that window.
func TestResubscribesAfterARandomWaitUpToTheBackoffMax(t *testing.T) {
	for _, tc := range []struct {
		limit  time.Duration
		random float64
		want   time.Duration
	}{
		{2 * time.Second, 0, 0},
		{2 * time.Second, 0.5, time.Second},
		{2 * time.Second, 0.75, 1500 * time.Millisecond},
		{15 * time.Second, 0.25, 3750 * time.Millisecond},
		{0, 0.5, DefaultSubscriptionBackoffMax / 2}, // not set: the agent's default
	} {
		e := &Executor{Config: config.Config{SubscriptionBackoffMax: tc.limit}, random: func() float64 { return tc.random }}
		for attempt := 1; attempt <= 5; attempt++ {
			if got := e.resubscribeWait(); got != tc.want {
				t.Errorf("backoff max %s, random %v, attempt %d: wait %s, want %s", tc.limit, tc.random, attempt, got, tc.want)
			}
		}
	}

	// Run draws the wait before each attempt while the agent is down.
	a := newFakeAgent(t)
	var mu sync.Mutex
	draws := 0
	startExecutorWith(t, a, &Executor{random: func() float64 {
		mu.Lock()
		defer mu.Unlock()
		draws++
		return 0.5
	}})
	a.waitSubscription(t, 1)
	a.restart(true)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := draws
		mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waits drawn while the agent was down, want 3", n)
		}
	}
	a.up()
	a.waitSubscription(t, 2)
}

// A task's updates reach the agent in the order they were made, across a SUBSCRIBE that
// failed: that SUBSCRIBE carried an update the agent never took, so a later update of
// the task waits for it, rather than going out at once and reaching the agent first
// (its status update manager forwards in the order it takes them: the framework would
// hear TASK_RUNNING after the update that followed it).
func TestUpdatesKeepTheirOrderAcrossAFailedSubscription(t *testing.T) {
	a := newFakeAgent(t)
	// The executor's second wait before subscribing again (the first SUBSCRIBE after
	// the agent went down has failed) lasts until the test ends it.
	var mu sync.Mutex
	waits := 0
	waiting, release := make(chan struct{}), make(chan struct{})
	rt := heldRuntime{started: make(chan *heldHandle, 1)}
	startExecutorWith(t, a, &Executor{Runtime: rt, random: func() float64 {
		mu.Lock()
		waits++
		n := waits
		mu.Unlock()
		if n == 2 {
			close(waiting)
			<-release
		}
		return 0
	}})
	var once sync.Once
	end := func() { once.Do(func() { close(release) }) }
	t.Cleanup(end)
	a.waitSubscription(t, 1)

	// TASK_STARTING is refused; then the agent goes down, refusing the SUBSCRIBE that
	// carries it.
	a.mu.Lock()
	a.recovering = true
	a.mu.Unlock()
	a.send(&mexec.Event{Type: mexec.Event_LAUNCH, Launch: &mexec.Event_Launch{Task: podTask(t, "t1")}})
	h := <-rt.started
	eventually(t, "TASK_STARTING refused", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.refused > 0
	})
	a.restart(true)
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the executor did not try to subscribe again")
	}

	// The agent is back before the next SUBSCRIBE, and the pod runs.
	a.mu.Lock()
	a.down, a.recovering = false, false
	a.mu.Unlock()
	h.report(Report{Status: corev1.PodStatus{Phase: corev1.PodRunning}})
	eventually(t, "TASK_RUNNING taken", func() bool { return slices.Contains(a.arrivalsOf("t1"), mesos.TASK_RUNNING) })
	end()
	a.waitSubscription(t, 2)
	want := []mesos.TaskState{mesos.TASK_STARTING, mesos.TASK_RUNNING}
	if got := a.arrivalsOf("t1"); !slices.Equal(got, want) {
		t.Errorf("the agent took the updates %v, want %v", got, want)
	}
}
