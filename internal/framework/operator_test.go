package framework

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

func scalar(name string, v float64) mesos.Resource {
	return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
}

// fakeOperatorAPI answers GET_AGENTS like a Mesos master, checking the call it gets.
func fakeOperatorAPI(t *testing.T, status int, agents ...master.Response_GetAgents_Agent) (*httptest.Server, *string) {
	t.Helper()
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		if r.URL.Path != "/api/v1" || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "unexpected request "+r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"), http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var call master.Call
		if err := call.Unmarshal(body); err != nil || call.GetType() != master.Call_GET_AGENTS {
			http.Error(w, "expected GET_AGENTS", http.StatusBadRequest)
			return
		}
		if status != http.StatusOK {
			http.Error(w, http.StatusText(status), status)
			return
		}
		resp := master.Response{Type: master.Response_GET_AGENTS, GetAgents: &master.Response_GetAgents{Agents: agents}}
		b, _ := resp.Marshal()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv, &auth
}

func agentOf(id, host string, active bool, res ...mesos.Resource) master.Response_GetAgents_Agent {
	return master.Response_GetAgents_Agent{
		AgentInfo:      mesos.AgentInfo{ID: &mesos.AgentID{Value: id}, Hostname: host, Attributes: []mesos.Attribute{{Name: "rack", Type: mesos.TEXT, Text: &mesos.Value_Text{Value: "r1"}}}},
		Active:         active,
		TotalResources: res,
	}
}

func TestGetAgents(t *testing.T) {
	a1 := agentOf("a1", "host-1", true, scalar("cpus", 8), scalar("mem", 16384))
	a1.PID = ptrTo("slave(1)@10.0.0.7:5051")
	a2 := agentOf("a2", "host-2", false, scalar("cpus", 4))
	a2.PID = ptrTo("slave(1)@host-2:5051") // a pid names an ip; anything else is no address
	srv, auth := fakeOperatorAPI(t, http.StatusOK, a1, a2)
	c := &Connection{cfg: Config{RequestTimeout: 5 * time.Second, Credentials: &Credentials{Principal: "p", Secret: "s"}}, operator: srv.URL}
	got, err := c.GetAgents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "a1" || got[0].Hostname != "host-1" || !got[0].Active || got[1].Active {
		t.Fatalf("agents = %+v", got)
	}
	if v := got[0].Total[0].GetScalar().GetValue(); got[0].Total[0].Name != "cpus" || v != 8 {
		t.Errorf("total of a1 = %v", got[0].Total)
	}
	if got[0].IP != "10.0.0.7" || got[1].IP != "" {
		t.Errorf("IPs = %q, %q, want the pid's ip 10.0.0.7 and none", got[0].IP, got[1].IP)
	}
	if len(got[0].Attributes) != 1 || got[0].Attributes[0].Name != "rack" {
		t.Errorf("attributes of a1 = %v", got[0].Attributes)
	}
	if *auth != "Basic cDpz" {
		t.Errorf("Authorization = %q, want the framework's basic credentials", *auth)
	}
}

func TestGetAgentsErrors(t *testing.T) {
	srv, _ := fakeOperatorAPI(t, http.StatusForbidden)
	c := &Connection{cfg: Config{RequestTimeout: 5 * time.Second}, operator: srv.URL}
	// mesos-go reads a 403 as the scheduler API's "no subscription established".
	if _, err := c.GetAgents(context.Background()); err == nil || !strings.Contains(err.Error(), "forbidden (HTTP 403): the master's ACLs") {
		t.Errorf("a 403 from the operator API: err = %v, want one saying the master's ACLs refused the call", err)
	}
	// A 202 without a body made mesos-go return neither a response nor an error, which
	// GetAgents decoded: a nil dereference that took the manager down (FuzzGetAgents).
	srv, _ = fakeOperatorAPI(t, http.StatusAccepted)
	c = &Connection{cfg: Config{RequestTimeout: 5 * time.Second}, operator: srv.URL}
	if _, err := c.GetAgents(context.Background()); err == nil || !strings.Contains(err.Error(), "HTTP 202") {
		t.Errorf("a 202 from the operator API: err = %v, want one saying the master answered no list", err)
	}
	c = &Connection{cfg: Config{RequestTimeout: 5 * time.Second}}
	if _, err := c.GetAgents(context.Background()); !errors.Is(err, ErrNotSubscribed) {
		t.Errorf("without a leader: err = %v, want ErrNotSubscribed", err)
	}
}

func TestRecordAgents(t *testing.T) {
	notified := 0
	d := &Driver{Connection: &Connection{}, notify: func() { notified++ }, status: Status{Agents: map[string]Agent{
		"a1": {ID: "a1", Hostname: "host-1", Capacity: maxScalars(nil, []mesos.Resource{scalar("cpus", 2)}, notRevocable)},
	}}}

	d.recordAgents([]MasterAgent{
		{ID: "a1", Hostname: "host-1", Total: mesos.Resources{scalar("cpus", 8), scalar("mem", 1024)}, Active: true},
		{ID: "a2", Hostname: "host-2", Total: mesos.Resources{scalar("cpus", 4)}, Active: true},
		{ID: "a3", Hostname: "host-3", Total: mesos.Resources{scalar("cpus", 4)}, Active: false},
	}, nil, time.Now(), 0)
	st := d.Status()
	if c := st.Agents["a1"].Capacity; len(c) != 2 || c[0].Name != "cpus" || c[0].GetScalar().GetValue() != 8 {
		t.Errorf("capacity of a1 = %v, want the operator API's total (cpus 8, mem 1024)", c)
	}
	if _, ok := st.Agents["a2"]; !ok {
		t.Error("an active agent that made no offer is not known")
	}
	if _, ok := st.Agents["a3"]; ok {
		t.Error("an inactive agent is known")
	}
	if notified != 1 {
		t.Errorf("notified %d times, want 1", notified)
	}

	// The same answer again changes nothing.
	d.recordAgents([]MasterAgent{
		{ID: "a1", Hostname: "host-1", Total: mesos.Resources{scalar("cpus", 8), scalar("mem", 1024)}, Active: true},
		{ID: "a2", Hostname: "host-2", Total: mesos.Resources{scalar("cpus", 4)}, Active: true},
		{ID: "a3", Hostname: "host-3", Total: mesos.Resources{scalar("cpus", 4)}, Active: false},
	}, nil, time.Now(), 0)
	if notified != 1 {
		t.Errorf("an unchanged answer notified (%d)", notified)
	}

	// An offer does not shrink a capacity the operator API gave.
	driverHandler{d}.Offers(context.Background(), []mesos.Offer{{ID: mesos.OfferID{Value: "o1"}, AgentID: mesos.AgentID{Value: "a1"}, Hostname: "host-1",
		Resources: []mesos.Resource{scalar("cpus", 1)}}})
	if c := d.Status().Agents["a1"].Capacity; c[0].GetScalar().GetValue() != 8 {
		t.Errorf("capacity of a1 after a smaller offer = %v, want cpus 8", c)
	}

	// A failure is recorded once and notified once.
	d.recordAgents(nil, errors.New("403"), time.Now(), 0)
	d.recordAgents(nil, errors.New("403"), time.Now(), 0)
	if d.Status().AgentsError == nil || notified != 2 {
		t.Errorf("AgentsError = %v, notified %d times, want an error and 2", d.Status().AgentsError, notified)
	}
}

// The master's list is its whole truth: an agent it no longer lists left the cluster,
// perhaps while the framework was not subscribed to hear of it, and is forgotten so that
// its Node stops being Ready; unless it offered since the list was asked.
func TestRecordAgentsForgetsAgentsThatLeft(t *testing.T) {
	asked := time.Now()
	d := &Driver{Connection: &Connection{}, status: Status{Agents: map[string]Agent{
		"left":     {ID: "left", Hostname: "gone", LastOffer: asked.Add(-time.Minute)},
		"new":      {ID: "new", Hostname: "just-registered", LastOffer: asked.Add(time.Millisecond)},
		"inactive": {ID: "inactive", Hostname: "reconnecting", LastOffer: asked.Add(-time.Minute)},
		"listed":   {ID: "listed", Hostname: "here"},
	}}}
	d.recordAgents([]MasterAgent{{ID: "listed", Hostname: "here", Active: true}, {ID: "inactive", Hostname: "reconnecting"}}, nil, asked, 0)
	got := d.AgentIDs()
	if want := []string{"inactive", "listed", "new"}; !slices.Equal(got, want) {
		t.Fatalf("agents = %v, want %v", got, want)
	}
	// A failed list says nothing of who left.
	d.recordAgents(nil, errors.New("403"), time.Now(), 0)
	if len(d.AgentIDs()) != 3 {
		t.Fatalf("a failed list forgot agents: %v", d.AgentIDs())
	}
}

// Each GET_AGENTS (every AgentPollInterval) uses a transport of its own: its kept-alive
// connection is closed after the request, not left open for good.
func TestGetAgentsLeavesNoConnectionOpen(t *testing.T) {
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		b, _ := (&master.Response{Type: master.Response_GET_AGENTS, GetAgents: &master.Response_GetAgents{}}).Marshal()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(b)
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch s {
		case http.StateNew:
			open[c] = true
		case http.StateClosed, http.StateHijacked:
			delete(open, c)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := &Connection{cfg: Config{RequestTimeout: safety}, operator: srv.URL}
	for range 5 {
		if _, err := c.GetAgents(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(safety)
	for {
		mu.Lock()
		n := len(open)
		mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections left open by 5 GET_AGENTS", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ptrTo[T any](v T) *T { return &v }

// GET_EXECUTORS is decoded into each executor's framework, agent, id and resources.
func TestGetExecutors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var call master.Call
		if err := call.Unmarshal(body); err != nil || call.GetType() != master.Call_GET_EXECUTORS {
			http.Error(w, "expected GET_EXECUTORS", http.StatusBadRequest)
			return
		}
		resp := master.Response{Type: master.Response_GET_EXECUTORS, GetExecutors: &master.Response_GetExecutors{
			Executors: []master.Response_GetExecutors_Executor{{AgentID: mesos.AgentID{Value: "a1"}, ExecutorInfo: mesos.ExecutorInfo{
				ExecutorID: mesos.ExecutorID{Value: "e1"}, FrameworkID: &mesos.FrameworkID{Value: "fw"}, Resources: []mesos.Resource{scalar("cpus", 0.1)}}}}}}
		b, _ := resp.Marshal()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	c := &Connection{cfg: Config{RequestTimeout: 5 * time.Second}, operator: srv.URL}
	got, err := c.GetExecutors(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].FrameworkID != "fw" || got[0].AgentID != "a1" || got[0].ExecutorID != "e1" ||
		len(got[0].Resources) != 1 || got[0].Resources[0].GetScalar().GetValue() != 0.1 {
		t.Errorf("executors = %+v", got)
	}
	if _, err := (&Connection{cfg: Config{RequestTimeout: 5 * time.Second}}).GetExecutors(context.Background()); !errors.Is(err, ErrNotSubscribed) {
		t.Errorf("without a leader: err = %v, want ErrNotSubscribed", err)
	}
}

// GET_TASKS is decoded into each task's framework, agent, executor, state, labels and
// latest status, the unreachable ones marked so.
func TestGetTasks(t *testing.T) {
	running, unreachable := mesos.TASK_RUNNING, mesos.TASK_UNREACHABLE
	labels := &mesos.Labels{Labels: []mesos.Label{{Key: "k8sm.io/pod-name", Value: ptrTo("web-0")}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var call master.Call
		if err := call.Unmarshal(body); err != nil || call.GetType() != master.Call_GET_TASKS {
			http.Error(w, "expected GET_TASKS", http.StatusBadRequest)
			return
		}
		resp := master.Response{Type: master.Response_GET_TASKS, GetTasks: &master.Response_GetTasks{
			Tasks: []mesos.Task{{Name: "web-0", TaskID: mesos.TaskID{Value: "t1"}, FrameworkID: mesos.FrameworkID{Value: "fw"},
				ExecutorID: &mesos.ExecutorID{Value: "e1"}, AgentID: mesos.AgentID{Value: "a1"}, State: &running, Labels: labels,
				Statuses: []mesos.TaskStatus{{TaskID: mesos.TaskID{Value: "t1"}, State: &running}}}},
			UnreachableTasks: []mesos.Task{{Name: "web-1", TaskID: mesos.TaskID{Value: "t2"}, FrameworkID: mesos.FrameworkID{Value: "fw"},
				AgentID: mesos.AgentID{Value: "a2"}, State: &unreachable}},
			CompletedTasks: []mesos.Task{{Name: "web-2", TaskID: mesos.TaskID{Value: "t3"}, FrameworkID: mesos.FrameworkID{Value: "fw"},
				AgentID: mesos.AgentID{Value: "a2"}, State: &running}}}}
		b, _ := resp.Marshal()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	c := &Connection{cfg: Config{RequestTimeout: 5 * time.Second}, operator: srv.URL}
	got, err := c.GetTasks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("tasks = %+v, want t1 and t2 (not the completed t3)", got)
	}
	if g := got[0]; g.FrameworkID != "fw" || g.TaskID != "t1" || g.AgentID != "a1" || g.ExecutorID != "e1" || g.State != running ||
		g.Unreachable || g.Labels.GetLabels()[0].GetValue() != "web-0" || g.Latest == nil || g.Latest.GetState() != running {
		t.Errorf("task t1 = %+v", g)
	}
	if g := got[1]; g.TaskID != "t2" || g.AgentID != "a2" || g.State != unreachable || !g.Unreachable || g.Latest != nil {
		t.Errorf("task t2 = %+v, want it unreachable, without statuses", g)
	}
	if _, err := (&Connection{cfg: Config{RequestTimeout: 5 * time.Second}}).GetTasks(context.Background()); !errors.Is(err, ErrNotSubscribed) {
		t.Errorf("without a leader: err = %v, want ErrNotSubscribed", err)
	}
}

// The operator API goes to the master that answered SUBSCRIBE, at the address the
// framework reached it at: the address a master advertises in its MasterInfo may be one
// the manager cannot reach, as behind NAT or a Docker bridge.
func TestOperatorAPIGoesWhereSubscribeWasAnswered(t *testing.T) {
	var mu sync.Mutex
	reached := map[string]int{}
	count := func(which string) {
		mu.Lock()
		reached[which]++
		mu.Unlock()
	}
	// Where the master says it is; on loopback, so that a request that goes there
	// reaches nothing else.
	advertised := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		count("advertised")
		http.Error(w, "not the address the framework reached", http.StatusServiceUnavailable)
	}))
	t.Cleanup(advertised.Close)
	host, portText, err := net.SplitHostPort(advertised.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatal(err)
	}
	m := &fakeMaster{t: t, streamID: "stream-1", events: make(chan *scheduler.Event, 16), got: make(chan *scheduler.Call, 64),
		info: &mesos.MasterInfo{ID: "m", Port: ptrTo(uint32(port)), Address: &mesos.Address{IP: &host, Port: int32(port)}}}
	operator, _ := fakeOperatorAPI(t, http.StatusOK, agentOf("a1", "host-1", true, scalar("cpus", 8)))
	mux := http.NewServeMux()
	mux.Handle("/api/v1/scheduler", m)
	mux.HandleFunc("/api/v1", func(w http.ResponseWriter, r *http.Request) {
		count("answered")
		httputil.NewSingleHostReverseProxy(mustParse(t, operator.URL)).ServeHTTP(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	h := newRecorder()
	c, err := New(Config{Master: srv.URL, FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm"}, MinBackoff: time.Hour}, h)
	if err != nil {
		t.Fatal(err)
	}
	runConn(t, c)
	select {
	case <-h.got:
	case <-time.After(10 * time.Second):
		t.Fatal("not subscribed")
	}
	if !c.Subscribed() {
		t.Fatalf("not subscribed: %v", h.disconnected)
	}
	agents, err := c.GetAgents(context.Background())
	mu.Lock()
	defer mu.Unlock()
	if err != nil || len(agents) != 1 || reached["answered"] != 1 || reached["advertised"] != 0 {
		t.Fatalf("GET_AGENTS: %v, %v; requests %v; want the agent, from the master that answered SUBSCRIBE", agents, err, reached)
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Whether the master listed its tasks is the driver's status, which the MesosCluster
// shows, told to the operator when it changes.
func TestSetTasksListed(t *testing.T) {
	notified := 0
	d := &Driver{notify: func() { notified++ }, status: Status{Agents: map[string]Agent{}}}
	refused := errors.New("GET_TASKS from http://m:5050: 401 Unauthorized")
	d.SetTasksListed(refused)
	d.SetTasksListed(refused)
	if err := d.Status().TasksError; err != refused || notified != 1 {
		t.Errorf("TasksError = %v, notified %d times, want the refusal, told once", err, notified)
	}
	d.SetTasksListed(nil)
	if err := d.Status().TasksError; err != nil || notified != 2 {
		t.Errorf("after an answer TasksError = %v, notified %d times, want none, told again", err, notified)
	}
}
