package mesossim

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpmaster"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	mastercalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// operatorCall sends a call with mesos-go's own operator API client.
func operatorCall(t *testing.T, url, mediaType string, call *master.Call) master.Response {
	t.Helper()
	cli := httpcli.New(httpcli.Endpoint(url+"/api/v1"), httpcli.Codec(codecs.ByMediaType[encoding.MediaType(mediaType)]))
	resp, err := httpmaster.NewSender(cli.Send).Send(context.Background(), mastercalls.NonStreaming(call))
	if err != nil {
		t.Fatalf("%s: %v", call.GetType(), err)
	}
	defer func() { _ = resp.Close() }()
	var r master.Response
	if err := resp.Decode(&r); err != nil {
		t.Fatalf("decoding %s: %v", call.GetType(), err)
	}
	return r
}

func scalars(rs []mesos.Resource) map[string]float64 {
	out := map[string]float64{}
	for _, r := range rs {
		if r.GetType() == mesos.SCALAR {
			out[r.Name] += r.GetScalar().GetValue()
		}
	}
	return out
}

func TestOperatorAPIGetAgents(t *testing.T) {
	m := startSim(t, Config{Agents: 2, AgentResources: "cpus:4;mem:8192;ports:[31000-31009]", AgentAttributes: "rack:r1"})
	if err := m.HoldResources("agent-2", "cpus:3;mem:1024"); err != nil {
		t.Fatal(err)
	}
	if err := m.HoldResources("agent-2", "cpus:2"); err == nil {
		t.Fatal("holding more than is free must fail")
	}
	c := subscribe(t, m, info())
	var launched mesos.Offer
	for launched.Hostname != "agent-1" {
		for _, o := range c.next(scheduler.Event_OFFERS).GetOffers().Offers {
			if o.Hostname == "agent-2" && scalars(o.Resources)["cpus"] != 1 {
				t.Fatalf("agent-2 offers %v cpus, want the 1 left after holding 3", scalars(o.Resources)["cpus"])
			}
			if o.Hostname == "agent-1" {
				launched = o
			}
		}
	}
	cpus := mesos.Resource{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 1.5}}
	shell := "sleep 1000"
	c.call(calls.Accept(calls.OfferOperations{calls.OpLaunch(mesos.TaskInfo{Name: "t", TaskID: mesos.TaskID{Value: "t1"},
		AgentID: launched.AgentID, Resources: []mesos.Resource{cpus}, Command: &mesos.CommandInfo{Value: &shell}})}.WithOffers(launched.ID)))
	c.next(scheduler.Event_UPDATE)

	for _, media := range []string{mediaProtobuf, mediaJSON} {
		r := operatorCall(t, m.URL(), media, mastercalls.GetAgents())
		if r.GetType() != master.Response_GET_AGENTS {
			t.Fatalf("%s: response type %s", media, r.GetType())
		}
		byHost := map[string]master.Response_GetAgents_Agent{}
		for _, a := range r.GetAgents.Agents {
			byHost[a.AgentInfo.Hostname] = a
		}
		if len(byHost) != 2 {
			t.Fatalf("%s: %d agents, want 2", media, len(byHost))
		}
		for host, a := range byHost {
			if !a.Active || a.AgentInfo.GetID().GetValue() == "" || a.Version == "" || len(a.AgentInfo.Attributes) != 1 {
				t.Errorf("%s: agent %s: %+v", media, host, a)
			}
			if got := scalars(a.TotalResources); got["cpus"] != 4 || got["mem"] != 8192 {
				t.Errorf("%s: agent %s total = %v, want cpus 4, mem 8192", media, host, got)
			}
		}
		if got := scalars(byHost["agent-1"].AllocatedResources)["cpus"]; got != 1.5 {
			t.Errorf("%s: agent-1 allocated cpus = %v, want the task's 1.5", media, got)
		}
		if got := scalars(byHost["agent-2"].AllocatedResources)["cpus"]; got != 3 {
			t.Errorf("%s: agent-2 allocated cpus = %v, want the 3 held", media, got)
		}
	}

	if err := m.RemoveAgent("agent-2"); err != nil {
		t.Fatal(err)
	}
	if r := operatorCall(t, m.URL(), mediaProtobuf, mastercalls.GetAgents()); len(r.GetAgents.Agents) != 1 {
		t.Errorf("a removed agent is not registered: got %d agents, want 1", len(r.GetAgents.Agents))
	}
	if r := operatorCall(t, m.URL(), mediaProtobuf, mastercalls.GetHealth()); !r.GetHealth.GetHealthy() {
		t.Errorf("GET_HEALTH = %+v", r)
	}
	fws := operatorCall(t, m.URL(), mediaJSON, mastercalls.GetFrameworks()).GetFrameworks
	if len(fws.Frameworks) != 1 || fws.Frameworks[0].FrameworkInfo.GetID().GetValue() != c.id || !fws.Frameworks[0].Connected {
		t.Errorf("GET_FRAMEWORKS = %+v", fws)
	}
}

func TestOperatorAPIRefusesBadRequests(t *testing.T) {
	m := startSim(t, Config{Agents: 1})
	agents, _ := mastercalls.GetAgents().Marshal()
	unknown, _ := (&master.Call{}).Marshal()
	unimplemented, _ := mastercalls.GetFlags().Marshal()
	for _, tc := range []struct {
		name, method, contentType, accept string
		body                              []byte
		want                              int
	}{
		{"GET", http.MethodGet, mediaProtobuf, "", agents, http.StatusMethodNotAllowed},
		{"no content type", http.MethodPost, "", "", agents, http.StatusBadRequest},
		{"text content", http.MethodPost, "text/plain", "", agents, http.StatusUnsupportedMediaType},
		{"unacceptable", http.MethodPost, mediaProtobuf, "text/html", agents, http.StatusNotAcceptable},
		{"garbage", http.MethodPost, mediaJSON, "", []byte("{"), http.StatusBadRequest},
		{"no type", http.MethodPost, mediaProtobuf, "", unknown, http.StatusBadRequest},
		{"not implemented", http.MethodPost, mediaProtobuf, "", unimplemented, http.StatusNotImplemented},
		{"ok", http.MethodPost, mediaProtobuf, mediaProtobuf, agents, http.StatusOK},
	} {
		req, _ := http.NewRequest(tc.method, m.URL()+"/api/v1", bytes.NewReader(tc.body))
		if tc.contentType != "" {
			req.Header.Set("Content-Type", tc.contentType)
		}
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
}

// A non-leading master redirects every call of the scheduler and operator APIs to the
// leader it knows, naming it by its MasterInfo's hostname and port (its IP when it has
// no hostname) and keeping the request's path and query; it answers 503 "No leader
// elected" while it knows none (Mesos: src/master/http.cpp Master::Http::redirect).
func TestFollowerRedirectsToTheLeader(t *testing.T) {
	leader := startSim(t, Config{Agents: 1})
	info := leader.MasterInfo()
	port := strconv.Itoa(int(info.GetPort()))
	noHostname := *info
	noHostname.Hostname = nil
	f, err := StartFollower("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		name     string
		leader   *mesos.MasterInfo
		path     string
		code     int
		location string
		body     string
	}{
		{"scheduler API", info, "/api/v1/scheduler?x=1", http.StatusTemporaryRedirect, "//localhost:" + port + "/api/v1/scheduler?x=1", ""},
		{"operator API", info, "/api/v1", http.StatusTemporaryRedirect, "//localhost:" + port + "/api/v1", ""},
		{"leader without a hostname", &noHostname, "/api/v1", http.StatusTemporaryRedirect, "//127.0.0.1:" + port + "/api/v1", ""},
		{"no leader", nil, "/api/v1/scheduler", http.StatusServiceUnavailable, "", "No leader elected"},
	} {
		f.SetLeader(tc.leader)
		resp, err := client.Post(f.URL()+tc.path, mediaProtobuf, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != tc.code || resp.Header.Get("Location") != tc.location || string(body) != tc.body {
			t.Errorf("%s: follower answered %d, Location %q, body %q; want %d, %q, %q",
				tc.name, resp.StatusCode, resp.Header.Get("Location"), body, tc.code, tc.location, tc.body)
		}
	}
}

// launchOnBothAgents launches task t1 on agent-1 and t2 on agent-2, each with executor
// e1 and the labels given for it (0 and 1), and returns the offers they took by hostname.
func launchOnBothAgents(c *client, labels func(i int) *mesos.Labels) map[string]mesos.Offer {
	offers := map[string]mesos.Offer{}
	for len(offers) < 2 {
		for _, o := range c.next(scheduler.Event_OFFERS).GetOffers().Offers {
			offers[o.Hostname] = o
		}
	}
	sh := "sleep 1000"
	exec := mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: "e1"}, Command: &mesos.CommandInfo{Value: &sh},
		Resources: []mesos.Resource{scalar("cpus", 0.1), scalar("mem", 32)}}
	for i, host := range []string{"agent-1", "agent-2"} {
		o := offers[host]
		c.call(calls.Accept(calls.OfferOperations{calls.OpLaunch(mesos.TaskInfo{Name: "t", TaskID: mesos.TaskID{Value: "t" + string(rune('1'+i))},
			AgentID: o.AgentID, Resources: []mesos.Resource{scalar("cpus", 1)}, Executor: &exec, Labels: labels(i)})}.WithOffers(o.ID)))
		c.next(scheduler.Event_UPDATE)
	}
	return offers
}

// GET_EXECUTORS lists each framework's executors with the ExecutorInfo of their launch
// (the framework id filled in), as Mesos does; an agent partitioned takes its executors
// out of the master with it.
func TestOperatorAPIGetExecutors(t *testing.T) {
	m := startSim(t, Config{Agents: 2, AgentResources: "cpus:4;mem:8192"})
	c := subscribe(t, m, info())
	offers := launchOnBothAgents(c, func(int) *mesos.Labels { return nil })

	for _, media := range []string{mediaProtobuf, mediaJSON} {
		r := operatorCall(t, m.URL(), media, mastercalls.GetExecutors())
		if r.GetType() != master.Response_GET_EXECUTORS || r.GetExecutors == nil || len(r.GetExecutors.Executors) != 2 {
			t.Fatalf("%s: GET_EXECUTORS = %+v, want the two executors", media, r)
		}
		for _, e := range r.GetExecutors.Executors {
			got := e.ExecutorInfo
			if got.GetFrameworkID().GetValue() != c.id || got.ExecutorID.Value != "e1" || e.AgentID.Value == "" ||
				scalars(got.Resources)["cpus"] != 0.1 || scalars(got.Resources)["mem"] != 32 {
				t.Errorf("%s: executor %+v on %s, want e1 of framework %s with its resources", media, got, e.AgentID.Value, c.id)
			}
		}
	}

	if err := m.PartitionAgent("agent-2"); err != nil {
		t.Fatal(err)
	}
	r := operatorCall(t, m.URL(), mediaProtobuf, mastercalls.GetExecutors())
	if len(r.GetExecutors.Executors) != 1 || r.GetExecutors.Executors[0].AgentID != offers["agent-1"].AgentID {
		t.Errorf("after agent-2's partition: %+v, want agent-1's executor alone", r.GetExecutors.Executors)
	}
}

// GET_TASKS lists each framework's tasks with the labels and executor of their
// TaskInfo, their state and latest status, as Mesos does; a partitioned agent's tasks
// move to unreachable_tasks, TASK_UNREACHABLE with the time the agent became so.
func TestOperatorAPIGetTasks(t *testing.T) {
	m := startSim(t, Config{Agents: 2, AgentResources: "cpus:4;mem:8192"})
	c := subscribe(t, m, info(mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	offers := launchOnBothAgents(c, func(i int) *mesos.Labels {
		return &mesos.Labels{Labels: []mesos.Label{{Key: "pod", Value: ptr("web-" + string(rune('0'+i)))}}}
	})

	for _, media := range []string{mediaProtobuf, mediaJSON} {
		r := operatorCall(t, m.URL(), media, mastercalls.GetTasks())
		if r.GetType() != master.Response_GET_TASKS || r.GetTasks == nil || len(r.GetTasks.Tasks) != 2 || len(r.GetTasks.UnreachableTasks) != 0 {
			t.Fatalf("%s: GET_TASKS = %+v, want the two tasks", media, r)
		}
		for i, task := range r.GetTasks.Tasks {
			wantPod := "web-" + string(rune('0'+i))
			if task.TaskID.Value != "t"+string(rune('1'+i)) || task.FrameworkID.Value != c.id || task.GetExecutorID().GetValue() != "e1" ||
				task.AgentID.Value != offers["agent-"+string(rune('1'+i))].AgentID.Value || task.GetState() == mesos.TASK_UNREACHABLE ||
				len(task.Labels.GetLabels()) != 1 || task.Labels.Labels[0].GetValue() != wantPod || len(task.Statuses) == 0 {
				t.Errorf("%s: task %d = %+v, want t%d of framework %s on agent-%d with its labels and latest status", media, i, task, i+1, c.id, i+1)
			}
		}
	}

	if err := m.PartitionAgent("agent-2"); err != nil {
		t.Fatal(err)
	}
	r := operatorCall(t, m.URL(), mediaProtobuf, mastercalls.GetTasks())
	if len(r.GetTasks.Tasks) != 1 || r.GetTasks.Tasks[0].TaskID.Value != "t1" || len(r.GetTasks.UnreachableTasks) != 1 {
		t.Fatalf("after agent-2's partition: %+v, want t1 held and t2 unreachable", r.GetTasks)
	}
	u := r.GetTasks.UnreachableTasks[0]
	last := u.Statuses[len(u.Statuses)-1]
	if u.TaskID.Value != "t2" || u.GetState() != mesos.TASK_UNREACHABLE || last.GetState() != mesos.TASK_UNREACHABLE || last.UnreachableTime == nil {
		t.Errorf("unreachable task %+v, want t2 TASK_UNREACHABLE with its agent's unreachable time", u)
	}
}
