package mesossim

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// execRun is one executor process an agent started.
type execRun struct {
	fw      *framework
	agent   *agent
	info    mesos.ExecutorInfo
	dir     string
	cmd     *exec.Cmd
	events  chan *mexec.Event // to the subscribed executor
	queued  []*mexec.Event    // held until it subscribes
	stream  bool
	exited  chan struct{}
	mu      sync.Mutex
	removed bool
}

// serveAgent serves one agent's executor API on its own address.
func (m *Master) serveAgent(a *agent) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	a.endpoint = ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/executor", func(w http.ResponseWriter, r *http.Request) { m.serveExecutor(a, w, r) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	a.srv = srv
	m.wg.Add(1)
	go func() { defer m.wg.Done(); _ = srv.Serve(ln) }()
	return nil
}

// startExecutorLocked starts an executor process for a framework on an agent, with the
// MESOS_* environment Mesos gives executors.
func (m *Master) startExecutorLocked(fw *framework, a *agent, info mesos.ExecutorInfo) (*execRun, error) {
	m.nextRun++
	dir := filepath.Join(m.workDir, "agents", a.hostname, "frameworks", fw.id, "executors", info.ExecutorID.Value, "runs", fmt.Sprint(m.nextRun))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cmdInfo := info.GetCommand()
	for _, u := range cmdInfo.GetURIs() {
		if err := fetch(u, dir); err != nil {
			return nil, err
		}
	}
	var cmd *exec.Cmd
	if cmdInfo.GetShell() || cmdInfo.Value != nil && len(cmdInfo.Arguments) == 0 {
		cmd = exec.Command("/bin/sh", "-c", cmdInfo.GetValue())
	} else {
		cmd = exec.Command(cmdInfo.GetValue(), cmdInfo.Arguments...)
	}
	checkpoint := "0"
	if fw.info.GetCheckpoint() {
		checkpoint = "1"
	}
	env := append(os.Environ(),
		"MESOS_FRAMEWORK_ID="+fw.id,
		"MESOS_EXECUTOR_ID="+info.ExecutorID.Value,
		"MESOS_DIRECTORY="+dir,
		"MESOS_SANDBOX="+dir,
		"MESOS_AGENT_ENDPOINT="+a.endpoint,
		"MESOS_SLAVE_ID="+a.id,
		"MESOS_CHECKPOINT="+checkpoint,
		"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=5secs",
	)
	if checkpoint == "1" {
		env = append(env, "MESOS_RECOVERY_TIMEOUT=15mins", "MESOS_SUBSCRIPTION_BACKOFF_MAX=2secs")
	}
	for _, v := range cmdInfo.GetEnvironment().GetVariables() {
		env = append(env, v.Name+"="+v.GetValue())
	}
	cmd.Env, cmd.Dir = env, dir
	stdout, _ := os.Create(filepath.Join(dir, "stdout"))
	stderr, _ := os.Create(filepath.Join(dir, "stderr"))
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting executor %s: %w", info.ExecutorID.Value, err)
	}
	run := &execRun{fw: fw, agent: a, info: info, dir: dir, cmd: cmd, events: make(chan *mexec.Event, 1024), exited: make(chan struct{})}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		err := cmd.Wait()
		stdout.Close()
		stderr.Close()
		close(run.exited)
		m.executorExited(run, err)
	}()
	return run, nil
}

// fetch puts a URI into the sandbox the way the Mesos fetcher does for local paths.
func fetch(u mesos.CommandInfo_URI, dir string) error {
	src := strings.TrimPrefix(u.Value, "file://")
	if !filepath.IsAbs(src) {
		return fmt.Errorf("mesos-sim fetches local paths only, not %q", u.Value)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", u.Value, err)
	}
	name := filepath.Base(src)
	if u.OutputFile != nil {
		name = *u.OutputFile
	}
	mode := os.FileMode(0o644)
	if u.GetExecutable() {
		mode = 0o755
	}
	return os.WriteFile(filepath.Join(dir, name), data, mode)
}

// deliver sends an event to the executor now, or when it subscribes.
func (r *execRun) deliver(e *mexec.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stream {
		r.queued = append(r.queued, e)
		return
	}
	select {
	case r.events <- e:
	default:
	}
}

// executorExited fails the executor's live tasks and tells the framework.
func (m *Master) executorExited(run *execRun, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := run.fw.id + "/" + run.info.ExecutorID.Value
	if run.agent.runs[key] == run {
		delete(run.agent.runs, key)
		if e, ok := run.agent.executors[key]; ok {
			run.agent.free.add(fromResources(e.Resources))
			delete(run.agent.executors, key)
		}
	}
	if run.fw.removed {
		return
	}
	reason := mesos.REASON_EXECUTOR_TERMINATED
	for _, t := range run.fw.tasks {
		if t.agent == run.agent && t.info.Executor != nil && t.info.Executor.ExecutorID == run.info.ExecutorID && !isTerminal(t.state) {
			m.agentUpdateLocked(t, mesos.TASK_FAILED, &reason, "Executor terminated")
		}
	}
	status := int32(0)
	if ee, ok := err.(*exec.ExitError); ok {
		status = int32(ee.ExitCode())
	}
	execID := run.info.ExecutorID
	run.fw.send(&scheduler.Event{Type: scheduler.Event_FAILURE, Failure: &scheduler.Event_Failure{
		AgentID: &mesos.AgentID{Value: run.agent.id}, ExecutorID: &execID, Status: &status}})
}

// stopExecutor asks an executor to shut down and kills it after the grace period.
func (m *Master) stopExecutor(run *execRun) {
	run.deliver(&mexec.Event{Type: mexec.Event_SHUTDOWN})
	go func() {
		select {
		case <-run.exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-run.cmd.Process.Pid, syscall.SIGKILL)
		}
	}()
}

// serveExecutor is an agent's POST /api/v1/executor.
func (m *Master) serveExecutor(a *agent, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "Expecting a 'POST' request", http.StatusMethodNotAllowed)
		return
	}
	ct := r.Header.Get("Content-Type")
	if ct != mediaProtobuf && ct != mediaJSON {
		http.Error(w, "Expecting 'Content-Type' of "+mediaJSON+" or "+mediaProtobuf, http.StatusUnsupportedMediaType)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	var call mexec.Call
	var err error
	if ct == mediaProtobuf {
		err = call.Unmarshal(body)
	} else {
		err = json.Unmarshal(body, &call)
	}
	if err != nil {
		http.Error(w, "Failed to parse body into executor::Call: "+err.Error(), http.StatusBadRequest)
		return
	}
	key := call.FrameworkID.Value + "/" + call.ExecutorID.Value
	m.mu.Lock()
	run := a.runs[key]
	m.mu.Unlock()
	if run == nil {
		http.Error(w, "Executor "+call.ExecutorID.Value+" of framework "+call.FrameworkID.Value+" is unknown on this agent", http.StatusBadRequest)
		return
	}
	switch call.Type {
	case mexec.Call_SUBSCRIBE:
		m.executorSubscribe(run, w, ct == mediaProtobuf, r)
	case mexec.Call_UPDATE:
		st := call.GetUpdate().Status
		switch {
		case st.GetState() == mesos.TASK_STAGING:
			http.Error(w, "Failed to validate executor::Call: 'status.state' is TASK_STAGING", http.StatusBadRequest)
		case st.GetSource() != mesos.SOURCE_EXECUTOR:
			http.Error(w, "Failed to validate executor::Call: 'status.source' is not SOURCE_EXECUTOR", http.StatusBadRequest)
		case len(st.UUID) != 16:
			http.Error(w, "Failed to validate executor::Call: 'status.uuid' is not a valid UUID", http.StatusBadRequest)
		case st.ExecutorID != nil && st.ExecutorID.Value != call.ExecutorID.Value:
			http.Error(w, "Failed to validate executor::Call: ExecutorID mismatch", http.StatusBadRequest)
		default:
			m.mu.Lock()
			if t := run.fw.tasks[st.TaskID.Value]; t != nil && !isTerminal(t.state) {
				st.AgentID = &mesos.AgentID{Value: a.id}
				m.queueUpdateLocked(t, st)
			}
			m.mu.Unlock()
			// The agent acknowledges once it has the update (it checkpoints it).
			run.deliver(&mexec.Event{Type: mexec.Event_ACKNOWLEDGED, Acknowledged: &mexec.Event_Acknowledged{TaskID: st.TaskID, UUID: st.UUID}})
			w.WriteHeader(http.StatusAccepted)
		}
	case mexec.Call_MESSAGE, mexec.Call_HEARTBEAT:
		w.WriteHeader(http.StatusAccepted)
	default:
		http.Error(w, "Unsupported call", http.StatusBadRequest)
	}
}

func (m *Master) executorSubscribe(run *execRun, w http.ResponseWriter, protobuf bool, r *http.Request) {
	m.mu.Lock()
	fwInfo := run.fw.info
	agentInfo := mesos.AgentInfo{ID: &mesos.AgentID{Value: run.agent.id}, Hostname: run.agent.hostname}
	m.mu.Unlock()
	run.mu.Lock()
	run.stream = true
	queued := run.queued
	run.queued = nil
	run.mu.Unlock()

	if protobuf {
		w.Header().Set("Content-Type", mediaProtobuf)
	} else {
		w.Header().Set("Content-Type", mediaJSON)
	}
	w.WriteHeader(http.StatusOK)
	write := func(e *mexec.Event) bool { return writeFrame(w, protobuf, e) }
	if !write(&mexec.Event{Type: mexec.Event_SUBSCRIBED, Subscribed: &mexec.Event_Subscribed{
		ExecutorInfo: run.info, FrameworkInfo: fwInfo, AgentInfo: agentInfo,
		ContainerID: &mesos.ContainerID{Value: filepath.Base(run.dir)}}}) {
		return
	}
	for _, e := range queued {
		if !write(e) {
			return
		}
	}
	defer func() {
		run.mu.Lock()
		run.stream = false
		run.mu.Unlock()
	}()
	for {
		select {
		case e := <-run.events:
			if !write(e) {
				return
			}
		case <-run.exited:
			return
		case <-r.Context().Done():
			return
		case <-m.stop:
			return
		}
	}
}
