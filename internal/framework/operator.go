package framework

import (
	"context"
	"fmt"
	"net"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/apierrors"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpmaster"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	mastercalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"
)

// MasterAgent is what the master's operator API says of one agent: its whole resources
// (offers show only what other frameworks leave) and whether it is active.
type MasterAgent struct {
	ID       string
	Hostname string
	// Port is AgentInfo.port, the port the agent serves on.
	Port int32
	// IP is the address of the agent's pid (slave(1)@<ip>:<port>); empty when it has none.
	IP         string
	Attributes []mesos.Attribute
	// Domain is AgentInfo.domain, the agent's fault domain; nil when it has none.
	Domain *mesos.DomainInfo
	Total  mesos.Resources
	Active bool
	// Recovered: the master recovered the agent from its registry after a failover and
	// it has not registered with it again yet (GET_AGENTS recovered_agents); not Active.
	// The master takes it for unreachable after --agent_reregister_timeout (10 min).
	Recovered bool
}

// GetAgents asks the leading master's operator API (POST /api/v1, GET_AGENTS) for its
// registered agents, with the framework's credentials and TLS settings, where the master
// answered SUBSCRIBE.
func (c *Connection) GetAgents(ctx context.Context) ([]MasterAgent, error) {
	leader := c.operatorURL()
	if leader == "" {
		return nil, ErrNotSubscribed
	}
	// RequestTimeout bounds the request and its answer, MaxResponseSize the answer.
	mh := newMasterHTTP(c.cfg)
	defer mh.closeIdle()
	return getAgents(ctx, mh, leader)
}

// getAgents sends GET_AGENTS to the leader through mh and decodes its answer.
func getAgents(ctx context.Context, mh *masterHTTP, leader string) ([]MasterAgent, error) {
	r, err := operatorCall(ctx, mh, leader, mastercalls.GetAgents(), master.Response_GET_AGENTS, "list of agents")
	if err != nil {
		return nil, err
	}
	if r.GetAgents == nil {
		return nil, fmt.Errorf("GET_AGENTS from %s: unexpected response %s", leader, r.GetType())
	}
	out := make([]MasterAgent, 0, len(r.GetAgents.Agents))
	for _, a := range r.GetAgents.Agents {
		info := a.GetAgentInfo()
		id := info.GetID().GetValue()
		if id == "" {
			continue
		}
		total := mesos.Resources(a.TotalResources)
		if len(total) == 0 {
			total = info.Resources
		}
		out = append(out, MasterAgent{ID: id, Hostname: info.GetHostname(), Port: info.GetPort(), IP: pidIP(a.GetPID()), Attributes: info.Attributes, Domain: info.Domain, Total: total, Active: a.GetActive()})
	}
	// The agents the master knows from its registry only (readonly_handler.cpp,
	// jsonifyGetAgents: slaves.recovered, each its SlaveInfo with the resources the
	// principal may view): they left no one's view yet, and most register again within
	// seconds of a master failover.
	for _, info := range r.GetAgents.RecoveredAgents {
		if id := info.GetID().GetValue(); id != "" {
			out = append(out, MasterAgent{ID: id, Hostname: info.GetHostname(), Port: info.GetPort(), Attributes: info.Attributes, Domain: info.Domain, Total: info.Resources, Recovered: true})
		}
	}
	return out, nil
}

// MasterExecutor is what the master's operator API says of one executor: the framework
// and agent it runs for and on, and the ExecutorInfo it was launched with.
type MasterExecutor struct {
	FrameworkID string
	AgentID     string
	ExecutorID  string
	Resources   []mesos.Resource
}

// GetExecutors asks the leading master's operator API (GET_EXECUTORS) for the executors
// it knows, of every framework the credentials may see, with the resources each was
// launched with: Mesos takes a task into a running executor only if it names that very
// ExecutorInfo (validation.cpp, validateCompatibleExecutorInfo).
func (c *Connection) GetExecutors(ctx context.Context) ([]MasterExecutor, error) {
	leader := c.operatorURL()
	if leader == "" {
		return nil, ErrNotSubscribed
	}
	mh := newMasterHTTP(c.cfg)
	defer mh.closeIdle()
	return getExecutors(ctx, mh, leader)
}

// getExecutors sends GET_EXECUTORS to the leader through mh and decodes its answer.
func getExecutors(ctx context.Context, mh *masterHTTP, leader string) ([]MasterExecutor, error) {
	r, err := operatorCall(ctx, mh, leader, mastercalls.GetExecutors(), master.Response_GET_EXECUTORS, "list of executors")
	if err != nil {
		return nil, err
	}
	if r.GetExecutors == nil {
		return nil, fmt.Errorf("GET_EXECUTORS from %s: unexpected response %s", leader, r.GetType())
	}
	out := make([]MasterExecutor, 0, len(r.GetExecutors.Executors))
	for _, e := range r.GetExecutors.Executors {
		info := e.ExecutorInfo
		out = append(out, MasterExecutor{FrameworkID: info.GetFrameworkID().GetValue(), AgentID: e.AgentID.Value,
			ExecutorID: info.ExecutorID.Value, Resources: info.Resources})
	}
	return out, nil
}

// operatorCall sends one call of the operator API to the leader through mh and decodes
// its answer, which must be of type want; what names the answer in errors.
func operatorCall(ctx context.Context, mh *masterHTTP, leader string, call *master.Call, want master.Response_Type, what string) (*master.Response, error) {
	name := call.GetType().String()
	cli := mh.client(leader + "/api/v1")
	resp, err := httpmaster.NewSender(cli.Send).Send(ctx, mastercalls.NonStreaming(call))
	if apierrors.CodeUnsubscribed.Matches(err) {
		// mesos-go reads a 403 as the scheduler API's "no subscription"; from the
		// operator API it is the master's authorizer refusing the principal the call.
		return nil, fmt.Errorf("%s from %s: forbidden (HTTP 403): the master's ACLs do not let the framework's principal make this call: %w", name, leader, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s from %s: %w", name, leader, err)
	}
	if resp == nil {
		// mesos-go answers a 202 Accepted with neither a response nor an error.
		return nil, fmt.Errorf("%s from %s: the master accepted the call (HTTP 202) but answered no %s", name, leader, what)
	}
	defer func() { _ = resp.Close() }()
	var r master.Response
	if err := resp.Decode(&r); err != nil {
		return nil, fmt.Errorf("decoding %s from %s: %w", name, leader, err)
	}
	if r.GetType() != want {
		return nil, fmt.Errorf("%s from %s: unexpected response %s", name, leader, r.GetType())
	}
	return &r, nil
}

// pidIP is the ip of a libprocess pid, id@ip:port; empty when pid is not one.
func pidIP(pid string) string {
	_, addr, ok := strings.Cut(pid, "@")
	if !ok {
		return ""
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || net.ParseIP(host) == nil {
		return ""
	}
	return host
}

// MasterTask is what the master's operator API says of one task it holds: whose it is,
// where it runs, the labels of its TaskInfo, its state and its latest status.
type MasterTask struct {
	FrameworkID string
	TaskID      string
	AgentID     string
	ExecutorID  string
	State       mesos.TaskState
	// Unreachable: among the master's unreachable tasks (its agent partitioned).
	Unreachable bool
	Labels      *mesos.Labels
	// Latest is the last of the task's statuses (the master keeps the latest of each
	// state, the newest last); nil when it has none.
	Latest *mesos.TaskStatus
}

// GetTasks asks the leading master's operator API (GET_TASKS) for the tasks it holds,
// of every framework the credentials may see: launched and not ended (or ended, their
// end not acknowledged yet), and unreachable. Tasks that completed are left out. A
// master that failed over knows only the tasks of the agents that registered with it
// since. The answer lists every framework's tasks (Mesos 1.12 has no filter by
// framework), the last thousand completed of each included, and may be read up to
// MaxTasksResponseSize, or MaxResponseSize where that is larger.
func (c *Connection) GetTasks(ctx context.Context) ([]MasterTask, error) {
	leader := c.operatorURL()
	if leader == "" {
		return nil, ErrNotSubscribed
	}
	cfg := c.cfg
	cfg.MaxResponseSize = max(cfg.MaxResponseSize, MaxTasksResponseSize)
	mh := newMasterHTTP(cfg)
	defer mh.closeIdle()
	return getTasks(ctx, mh, leader)
}

// MaxTasksResponseSize bounds the answer to GET_TASKS: at about 1 KiB a task, room for
// some 60,000 tasks of every framework, live and completed.
const MaxTasksResponseSize = 64 << 20

// getTasks sends GET_TASKS to the leader through mh and decodes its answer.
func getTasks(ctx context.Context, mh *masterHTTP, leader string) ([]MasterTask, error) {
	r, err := operatorCall(ctx, mh, leader, mastercalls.GetTasks(), master.Response_GET_TASKS, "list of tasks")
	if err != nil {
		return nil, err
	}
	if r.GetTasks == nil {
		return nil, fmt.Errorf("GET_TASKS from %s: unexpected response %s", leader, r.GetType())
	}
	out := make([]MasterTask, 0, len(r.GetTasks.Tasks)+len(r.GetTasks.UnreachableTasks))
	add := func(tasks []mesos.Task, unreachable bool) {
		for i := range tasks {
			t := &tasks[i]
			mt := MasterTask{FrameworkID: t.FrameworkID.Value, TaskID: t.TaskID.Value, AgentID: t.AgentID.Value,
				ExecutorID: t.GetExecutorID().GetValue(), State: t.GetState(), Unreachable: unreachable, Labels: t.Labels}
			if n := len(t.Statuses); n > 0 {
				mt.Latest = &t.Statuses[n-1]
			}
			out = append(out, mt)
		}
	}
	add(r.GetTasks.Tasks, false)
	add(r.GetTasks.UnreachableTasks, true)
	return out, nil
}

// SetTasksListed records whether the master listed the tasks it holds when last asked
// (Status.TasksError: why not; nil once it did), and tells the operator when that
// changes.
func (d *Driver) SetTasksListed(err error) {
	d.mu.Lock()
	changed := setError(&d.status.TasksError, err)
	d.mu.Unlock()
	if changed && d.notify != nil {
		d.notify()
	}
}

// setError sets a status error field to err, and says whether the status changed from
// none to one or back (what a notify is for). The caller holds d.mu.
func setError(field *error, err error) (changed bool) {
	changed = (err == nil) != (*field == nil)
	*field = err
	return changed
}
