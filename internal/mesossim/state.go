package mesossim

import (
	"encoding/json"
	"net/http"
	"sort"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// State is what /state shows: a small part of Mesos's /master/state.
type State struct {
	ID         string           `json:"id"`
	Leader     string           `json:"leader"`
	Agents     []AgentState     `json:"slaves"`
	Frameworks []FrameworkState `json:"frameworks"`
}

// AgentState is one agent in /state.
type AgentState struct {
	ID         string             `json:"id"`
	Hostname   string             `json:"hostname"`
	Resources  map[string]float64 `json:"resources"`
	Free       map[string]float64 `json:"unreserved_resources"`
	Active     bool               `json:"active"`
	Attributes map[string]string  `json:"attributes"`
	// Recovered: the master failed over and the agent has not registered with it again
	// (Mesos's /master/state lists such agents apart, as recovered_slaves).
	Recovered bool `json:"recovered,omitempty"`
}

// FrameworkState is one framework in /state.
type FrameworkState struct {
	ID        string      `json:"id"`
	Name      string      `json:"name"`
	Active    bool        `json:"active"`
	Connected bool        `json:"connected"`
	Removed   bool        `json:"removed"`
	Tasks     []TaskState `json:"tasks"`
	// Reconciles counts the RECONCILE calls the framework made.
	Reconciles int `json:"reconciles"`
}

// TaskState is one task in /state.
type TaskState struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	State   string `json:"state"`
	AgentID string `json:"slave_id"`
	// ExecutorID is the executor the task runs in, "" for a command task (as Mesos's
	// /state shows it).
	ExecutorID string `json:"executor_id"`
	// Labels are the task's labels, as Mesos shows them.
	Labels []mesos.Label `json:"labels,omitempty"`
}

// State returns a snapshot of the master.
func (m *Master) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := State{ID: m.id, Leader: m.ln.Addr().String()}
	for _, a := range m.agents {
		as := AgentState{ID: a.id, Hostname: a.hostname, Resources: a.total.scalars, Free: map[string]float64{}, Active: a.connected(), Attributes: map[string]string{},
			Recovered: a.recovered}
		for k, v := range a.free.scalars {
			as.Free[k] = v
		}
		for _, at := range a.attrs {
			as.Attributes[at.Name] = at.GetText().GetValue()
		}
		st.Agents = append(st.Agents, as)
	}
	for _, fw := range m.frameworks {
		fs := FrameworkState{ID: fw.id, Name: fw.info.Name, Active: fw.stream != nil && !fw.removed, Connected: fw.stream != nil, Removed: fw.removed, Reconciles: fw.reconciles}
		for _, t := range fw.tasks {
			fs.Tasks = append(fs.Tasks, TaskState{ID: t.info.TaskID.Value, Name: t.info.Name, State: t.state.String(), AgentID: t.agent.id,
				ExecutorID: t.info.GetExecutor().GetExecutorID().Value, Labels: t.info.GetLabels().GetLabels()})
		}
		sort.Slice(fs.Tasks, func(i, j int) bool { return fs.Tasks[i].ID < fs.Tasks[j].ID })
		st.Frameworks = append(st.Frameworks, fs)
	}
	sort.Slice(st.Frameworks, func(i, j int) bool { return st.Frameworks[i].ID < st.Frameworks[j].ID })
	return st
}

func (m *Master) serveState(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(m.State())
}
