package mesossim

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// execRun is one executor process an agent started.
type execRun struct {
	fw    *framework
	agent *agent
	info  mesos.ExecutorInfo
	dir   string
	cmd   *exec.Cmd
	// containerID names its container (a uuid, as Mesos's containerizer makes).
	containerID string
	exited      chan struct{}

	mu     sync.Mutex
	queued []*mexec.Event    // held until it subscribes
	events chan *mexec.Event // to the open SUBSCRIBE stream; nil while none is open
	conn   chan struct{}     // closed to end the open stream

	// Guarded by the master's mu:
	registered bool // subscribed since it started or since the agent restarted
	// sentTask: it sent an update of its own of one of its tasks, which the agent keeps
	// with the task, acknowledged or not, across its restarts (Executor::everSentTask,
	// completedTasks); such an executor is never taken for one left with no task.
	sentTask    bool
	recovering  bool         // the agent restarted and waits for it to subscribe again
	terminating bool         // told to SHUT DOWN
	silent      bool         // killed by an agent that forgot it: its exit is not reported
	termination *termination // how its tasks end when it exits, if not FAILED
}

// termination is how an executor's live tasks end when it exits, when the agent decided
// it before (slave.cpp: Executor::pendingTermination).
type termination struct {
	state  mesos.TaskState
	reason mesos.TaskStatus_Reason
	msg    string
}

// agentRestartDelay is how long a restarted agent's executor API is away.
const agentRestartDelay = 100 * time.Millisecond

// serveAgent serves one agent's executor API on its own address.
func (m *Master) serveAgent(a *agent) error {
	return m.serveAgentOn(a, net.JoinHostPort(a.ip, "0"))
}

// serveAgentOn serves an agent's executor API on addr.
func (m *Master) serveAgentOn(a *agent, addr string) error {
	ln, err := net.Listen("tcp", addr)
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
	dir := filepath.Join(m.workDir, "agents", strings.ReplaceAll(a.name(), ":", "-"), "frameworks", fw.id, "executors", info.ExecutorID.Value, "runs", fmt.Sprint(m.nextRun))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cmdInfo := info.GetCommand()
	for _, u := range cmdInfo.GetURIs() {
		if err := fetch(u, dir); err != nil {
			return nil, err
		}
	}
	cmd := commandOf(cmdInfo, cmdInfo.GetShell() || cmdInfo.Value != nil && len(cmdInfo.Arguments) == 0)
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
		"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD="+mesosDuration(m.gracePeriod(info)),
	)
	if checkpoint == "1" {
		env = append(env, "MESOS_RECOVERY_TIMEOUT="+mesosDuration(m.cfg.RecoveryTimeout),
			"MESOS_SUBSCRIPTION_BACKOFF_MAX="+mesosDuration(m.cfg.ExecutorReregistrationTimeout))
	}
	for _, v := range cmdInfo.GetEnvironment().GetVariables() {
		env = append(env, v.Name+"="+v.GetValue())
	}
	cmd.Env, cmd.Dir = env, dir
	stdout, _ := os.Create(filepath.Join(dir, "stdout"))
	stderr, _ := os.Create(filepath.Join(dir, "stderr"))
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// A session of its own, as Mesos's POSIX launcher starts executors: its container's
	// processes are then its session (destroyContainer).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	run := &execRun{fw: fw, agent: a, info: info, dir: dir, cmd: cmd, containerID: uuid.NewString(), exited: make(chan struct{})}
	if m.cfg.AuthenticateHTTPExecutors {
		cmd.Env = append(cmd.Env, envExecutorToken+"="+m.executorToken(run))
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting executor %s: %w", info.ExecutorID.Value, err)
	}
	time.AfterFunc(m.cfg.ExecutorRegistrationTimeout, func() { m.registrationTimedOut(run) })
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		err := cmd.Wait()
		destroyContainer(cmd.Process.Pid)
		_ = stdout.Close()
		_ = stderr.Close()
		close(run.exited)
		m.executorExited(run, err)
	}()
	return run, nil
}

// fetch puts a URI into the sandbox the way the Mesos fetcher does for local paths: a
// file of its own, of the mode the URI asks. A hard link stands for the copy where the
// source has that mode already (the executor binary, 50 MB, fetched for every executor
// of a long run: copies filled the disk), a copy elsewhere.
func fetch(u mesos.CommandInfo_URI, dir string) error {
	src := strings.TrimPrefix(u.Value, "file://")
	if !filepath.IsAbs(src) {
		return fmt.Errorf("mesos-sim fetches local paths only, not %q", u.Value)
	}
	name := filepath.Base(src)
	if u.OutputFile != nil {
		name = *u.OutputFile
	}
	mode := os.FileMode(0o644)
	if u.GetExecutable() {
		mode = 0o755
	}
	dst := filepath.Join(dir, name)
	if fi, err := os.Stat(src); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm() == mode && os.Link(src, dst) == nil {
		return nil
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", u.Value, err)
	}
	return os.WriteFile(dst, data, mode)
}

// gracePeriod is how long an executor has to exit after SHUTDOWN: its ExecutorInfo's
// shutdown_grace_period, else the agent's.
func (m *Master) gracePeriod(info mesos.ExecutorInfo) time.Duration {
	if g := info.GetShutdownGracePeriod(); g != nil && g.Nanoseconds > 0 {
		return time.Duration(g.Nanoseconds)
	}
	return m.cfg.ExecutorShutdownGracePeriod
}

// mesosDuration writes d the way Mesos's stout does (e.g. 5secs, 1.5mins, 200ms), the
// form mesos-go's executor config reads.
func mesosDuration(d time.Duration) string {
	units := []struct {
		name string
		size time.Duration
	}{{"weeks", 7 * 24 * time.Hour}, {"days", 24 * time.Hour}, {"hrs", time.Hour}, {"mins", time.Minute},
		{"secs", time.Second}, {"ms", time.Millisecond}, {"us", time.Microsecond}}
	for _, u := range units {
		if d >= u.size {
			return strconv.FormatFloat(float64(d)/float64(u.size), 'f', -1, 64) + u.name
		}
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}

// deliver sends an event to the executor as the agent does, and is called with the
// master's lock held. Until the executor has subscribed (Executor::REGISTERING, since
// it started or since its agent restarted) the event is held for its SUBSCRIBE
// (Executor::queuedTasks; Mesos: src/slave/slave.cpp Slave::__run). After, it goes to
// the connection the executor last subscribed on, and is lost if that connection is gone
// (src/slave/slave.hpp Executor::send: the agent does not watch the connection, and a
// closed one takes nothing, "Unable to send event to executor: connection closed"): a
// LAUNCH lost so leaves its task STAGING until the executor subscribes again without
// listing it (executorSubscribe).
func (r *execRun) deliver(e *mexec.Event) {
	if !r.registered {
		r.mu.Lock()
		r.queued = append(r.queued, e)
		r.mu.Unlock()
		return
	}
	r.sendNow(e)
}

// launchedBy is the tasks a LAUNCH or LAUNCH_GROUP event carries; nil for other events.
func launchedBy(e *mexec.Event) []mesos.TaskID {
	switch e.GetType() {
	case mexec.Event_LAUNCH:
		return []mesos.TaskID{e.GetLaunch().Task.TaskID}
	case mexec.Event_LAUNCH_GROUP:
		var ids []mesos.TaskID
		for _, t := range e.GetLaunchGroup().TaskGroup.Tasks {
			ids = append(ids, t.TaskID)
		}
		return ids
	}
	return nil
}

// unqueue takes the LAUNCH of a task, or the LAUNCH_GROUP it is in, out of the events
// held for the executor until it subscribes. It returns the tasks it took out (nil when
// the task was not held) and whether they were a group.
func (r *execRun) unqueue(id mesos.TaskID) (ids []mesos.TaskID, group bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range r.queued {
		ids := launchedBy(e)
		for _, t := range ids {
			if t == id {
				r.queued = append(r.queued[:i:i], r.queued[i+1:]...)
				return ids, e.GetType() == mexec.Event_LAUNCH_GROUP
			}
		}
	}
	return nil, false
}

// holding says whether a task's LAUNCH (or LAUNCH_GROUP) is held for the executor
// until it subscribes; with no task named, whether any is (Executor::queuedTasks).
func (r *execRun) holding(id *mesos.TaskID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.queued {
		for _, t := range launchedBy(e) {
			if id == nil || t == *id {
				return true
			}
		}
	}
	return false
}

// idleLocked says whether an executor has no task to run: none is held for it, and it
// was never sent one as the agent counts it (Executor::everSentTask: a task sent that
// has not ended, or one that ended, acknowledged or not, with an update of the
// executor's own). Every task of a new executor was killed before it subscribed, or,
// after an agent restart, every one it was sent was lost with the restart.
func (m *Master) idleLocked(run *execRun) bool {
	if run.holding(nil) || run.sentTask {
		return false
	}
	for _, t := range run.fw.tasks {
		if t.agent == run.agent && t.info.Executor != nil && t.info.Executor.ExecutorID == run.info.ExecutorID && t.liveOnAgent() {
			return false
		}
	}
	return true
}

// killQueuedLocked kills a task whose executor has not subscribed yet, as the agent
// does (Mesos: src/slave/slave.cpp Slave::kill, an executor in REGISTERING): its LAUNCH
// (or the whole LAUNCH_GROUP it is in) leaves the events held for the executor, and
// the task (each task of the group) ends TASK_KILLED, SOURCE_AGENT,
// REASON_TASK_KILLED_DURING_LAUNCH, "Killed before delivery to the executor" ("A task
// within the task group was killed before delivery to the executor"), with a uuid and
// no container status (Slave::statusUpdate for a queued task). The executor is left to
// subscribe; if nothing is left for it then, it is shut down (executorSubscribe). It
// says whether the task was held.
func (m *Master) killQueuedLocked(run *execRun, id mesos.TaskID) bool {
	ids, group := run.unqueue(id)
	if ids == nil {
		return false
	}
	msg := "Killed before delivery to the executor"
	if group {
		msg = "A task within the task group was killed before delivery to the executor"
	}
	for _, tid := range ids {
		if t := run.fw.tasks[tid.Value]; t != nil && t.agent == run.agent && !isTerminal(t.state) {
			m.agentStatusLocked(t, mesos.TASK_KILLED, mesos.SOURCE_AGENT, mesos.REASON_TASK_KILLED_DURING_LAUNCH.Enum(), msg)
		}
	}
	return true
}

// sendNow sends an event on the executor's open stream; it is lost when none is open.
func (r *execRun) sendNow(e *mexec.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case r.events <- e: // never ready while events is nil
	default:
	}
}

// kill ends the executor's process group at once (the rest of its container goes once
// it has exited).
func (r *execRun) kill() { _ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL) }

// executorExited reports an executor's exit as the agent does (Mesos:
// src/slave/slave.cpp Slave::executorTerminated): unless the framework is gone or the
// agent forgot the executor (silent), executorTerminatedLocked ends its live tasks and
// tells the framework.
func (m *Master) executorExited(run *execRun, _ error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := run.fw.id + "/" + run.info.ExecutorID.Value
	if run.agent.runs[key] == run {
		delete(run.agent.runs, key)
		releaseExecutorLocked(run.agent, key)
	}
	if run.fw.removed || run.silent {
		return
	}
	// The wait status as waitpid gives it, which Mesos passes on: 9 for SIGKILL, 256 for
	// exit code 1.
	status := int32(0)
	if ps := run.cmd.ProcessState; ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
			status = int32(ws)
		}
	}
	m.executorTerminatedLocked(run.fw, run.agent, run.info.ExecutorID, run.termination, status)
}

// registrationTimedOut is the end of an executor's --executor_registration_timeout
// (Config.ExecutorRegistrationTimeout) after the agent launched it (Mesos:
// src/slave/slave.cpp Slave::launchExecutor, registerExecutorTimeout). One still
// registering — it never subscribed — has its container destroyed at once and is
// terminating (a late SUBSCRIBE gets SHUTDOWN), with a pending termination: its tasks
// end TASK_FAILED, REASON_EXECUTOR_REGISTRATION_TIMEOUT, SOURCE_AGENT, "Executor did not
// register within 1mins", after the FAILURE of its exit (executorTerminatedLocked). One
// that subscribed, is shutting down or gone, or that a restarted agent recovered (the
// restart took the timer with it; finishRecovery is its deadline) is left alone.
func (m *Master) registrationTimedOut(run *execRun) {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.stop:
		return
	case <-run.exited:
		return
	default:
	}
	if run.agent.runs[run.fw.id+"/"+run.info.ExecutorID.Value] != run || run.fw.removed ||
		run.registered || run.terminating || run.recovering {
		return
	}
	run.termination = &termination{state: mesos.TASK_FAILED, reason: mesos.REASON_EXECUTOR_REGISTRATION_TIMEOUT,
		msg: "Executor did not register within " + mesosDuration(m.cfg.ExecutorRegistrationTimeout)}
	run.terminating = true
	run.kill()
}

// releaseExecutorLocked gives an executor's own resources back to its agent.
func releaseExecutorLocked(a *agent, key string) {
	if e, ok := a.executors[key]; ok {
		a.free.add(fromResources(e.Resources))
		delete(a.executors, key)
	}
}

// executorTerminatedLocked reports that an executor terminated, as Mesos does (Mesos:
// src/slave/slave.cpp Slave::executorTerminated, sendExecutorTerminatedStatusUpdate,
// sendExitedExecutorMessage; src/master/master.cpp Master::exitedExecutor):
//
//   - FAILURE with agent_id, executor_id and the wait status first: the agent sends
//     ExitedExecutorMessage straight to the master, while its task updates go through
//     the containerizer and the status update manager first. Only a registered,
//     connected agent's reaches the framework: the master drops it for an unreachable
//     or removed agent, and a restarting agent has no master to send it to.
//   - Then each live task ends TASK_FAILED, REASON_EXECUTOR_TERMINATED, SOURCE_SLAVE,
//     "Executor terminated", with a uuid (held while the agent is away), unless the agent
//     decided otherwise before it killed the executor (tm: Executor::pendingTermination).
//     The containerizer reports no state, reason or message for a process that exits
//     or is killed outside Mesos, so these are the agent's defaults; the container is
//     gone, so the update has no container status.
//
// Command tasks' executors never get here: the master does not know them, and their
// agent sends no ExitedExecutorMessage (Executor::isGeneratedForCommandTask).
func (m *Master) executorTerminatedLocked(fw *framework, a *agent, execID mesos.ExecutorID, tm *termination, status int32) {
	if a.connected() {
		fw.send(&scheduler.Event{Type: scheduler.Event_FAILURE, Failure: &scheduler.Event_Failure{
			AgentID: &mesos.AgentID{Value: a.id}, ExecutorID: &execID, Status: &status}})
	}
	state, reason, msg := mesos.TASK_FAILED, mesos.REASON_EXECUTOR_TERMINATED, "Executor terminated"
	if tm != nil {
		state, reason, msg = tm.state, tm.reason, tm.msg
	}
	for _, t := range fw.tasks {
		if t.agent == a && t.info.Executor != nil && t.info.Executor.ExecutorID == execID && t.liveOnAgent() {
			m.agentStatusLocked(t, state, mesos.SOURCE_AGENT, reason.Enum(), msg)
		}
	}
}

// stopExecutor asks an executor to shut down and kills it after the grace period.
func (m *Master) stopExecutor(run *execRun) {
	run.terminating = true
	run.deliver(&mexec.Event{Type: mexec.Event_SHUTDOWN})
	grace := m.gracePeriod(run.info)
	go func() {
		select {
		case <-run.exited:
		case <-time.After(grace):
			run.kill()
		}
	}()
}

// shutdownLocked runs a scheduler SHUTDOWN call: the master passes it to the agent
// (dropped if the agent is not registered, master.cpp: Master::shutdown), which tells
// the executor to shut down and kills it if it has not exited after the grace period
// (slave.cpp: shutdownExecutor, shutdownExecutorTimeout). Its live tasks then end as on
// any executor exit. Without an executor process (simulated tasks) the executor is
// taken to exit at once with status 0.
func (m *Master) shutdownLocked(fw *framework, sh *scheduler.Call_Shutdown) {
	a := m.agentByID[sh.AgentID.Value]
	if a == nil || !a.connected() {
		return
	}
	key := fw.id + "/" + sh.ExecutorID.Value
	if run := a.runs[key]; run != nil {
		if !run.terminating {
			m.stopExecutor(run)
		}
		return
	}
	if _, ok := a.executors[key]; !ok {
		return // unknown executor: the agent ignores it
	}
	releaseExecutorLocked(a, key)
	m.executorTerminatedLocked(fw, a, sh.ExecutorID, nil, 0)
}

// messageLocked passes a scheduler MESSAGE to its executor. Mesos drops it (the call is
// still answered 202) when the agent is not registered and connected (master.cpp:
// Master::message) or the executor is unknown or not subscribed (slave.cpp:
// schedulerMessage); so do simulated tasks, which have no executor to read it.
func (m *Master) messageLocked(fw *framework, msg *scheduler.Call_Message) {
	a := m.agentByID[msg.AgentID.Value]
	if a == nil || !a.connected() {
		return
	}
	run := a.runs[fw.id+"/"+msg.ExecutorID.Value]
	if run == nil || run.terminating || !run.registered {
		return
	}
	run.sendNow(&mexec.Event{Type: mexec.Event_MESSAGE, Message: &mexec.Event_Message{Data: msg.Data}})
}
