package mesossim

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/google/uuid"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// Command tasks (a TaskInfo with a CommandInfo and no executor) run for real in exec
// mode, as Mesos's command executor runs them (src/launcher/executor.cpp): TASK_STARTING,
// the command in a sandbox of its own (`sh -c` for a shell command, else its argv),
// TASK_RUNNING, and on exit TASK_FINISHED for status 0, else TASK_FAILED, or
// TASK_KILLED after a KILL, with the message "Command exited with status N" or
// "Command terminated with signal S" (status_utils.hpp: WSTRINGIFY). A KILL sends
// SIGTERM, then SIGKILL after the kill policy's grace period (else the agent's
// executor shutdown grace period). Without exec mode they are simulated.

// commandRun is a command task's process.
type commandRun struct {
	cmd    *exec.Cmd
	killed bool // by a KILL: its end is TASK_KILLED
}

// commandOf is the process of a CommandInfo: its value through /bin/sh -c with shell,
// else its value exec'd with its arguments as the whole argv, argv[0] included, as
// Mesos's launcher execs it.
func commandOf(ci *mesos.CommandInfo, shell bool) *exec.Cmd {
	if shell {
		return exec.Command("/bin/sh", "-c", ci.GetValue())
	}
	cmd := exec.Command(ci.GetValue())
	if len(ci.Arguments) > 0 {
		cmd.Args = ci.Arguments
	}
	return cmd
}

// startCommandLocked starts a command task's process.
func (m *Master) startCommandLocked(t *task) {
	m.nextRun++
	ci := t.info.GetCommand()
	dir := filepath.Join(m.workDir, "agents", strings.ReplaceAll(t.agent.name(), ":", "-"), "frameworks", t.fw.id,
		"executors", t.info.TaskID.Value, "runs", fmt.Sprint(m.nextRun))
	cmd := commandOf(ci, ci.GetShell()) // CommandInfo.shell defaults to true
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "MESOS_SANDBOX="+dir, "MESOS_DIRECTORY="+dir, "MESOS_FRAMEWORK_ID="+t.fw.id,
		"MESOS_EXECUTOR_ID="+t.info.TaskID.Value, "MESOS_TASK_ID="+t.info.TaskID.Value)
	for _, v := range ci.GetEnvironment().GetVariables() {
		cmd.Env = append(cmd.Env, v.Name+"="+v.GetValue())
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	m.agentUpdateLocked(t, mesos.TASK_STARTING, nil, "")
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		cmd.Stdout, cmd.Stderr = sandboxFile(dir, "stdout"), sandboxFile(dir, "stderr")
		err = cmd.Start()
	}
	if err != nil {
		m.agentUpdateLocked(t, mesos.TASK_FAILED, nil, "Failed to launch the command: "+err.Error())
		return
	}
	run := &commandRun{cmd: cmd}
	t.command = run
	t.agent.containers[t.fw.id+"/"+t.info.TaskID.Value] = container{id: uuid.NewString(), pid: cmd.Process.Pid}
	m.agentUpdateLocked(t, mesos.TASK_RUNNING, nil, "")
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		_ = cmd.Wait()
		destroyContainer(cmd.Process.Pid)
		closeFiles(cmd)
		m.mu.Lock()
		defer m.mu.Unlock()
		m.commandExitedLocked(t, run)
	}()
}

func sandboxFile(dir, name string) *os.File {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return nil
	}
	return f
}

func closeFiles(cmd *exec.Cmd) {
	for _, w := range []any{cmd.Stdout, cmd.Stderr} {
		if f, ok := w.(*os.File); ok && f != nil {
			_ = f.Close()
		}
	}
}

// commandExitedLocked reports how a command task's process ended.
func (m *Master) commandExitedLocked(t *task, run *commandRun) {
	if t.command != run || isTerminal(t.state) || t.fw.removed {
		return
	}
	state, msg := mesos.TASK_FAILED, "Command "+waitString(run.cmd.ProcessState)
	switch {
	case run.killed:
		state = mesos.TASK_KILLED
	case run.cmd.ProcessState.Success():
		state = mesos.TASK_FINISHED
	}
	m.agentUpdateLocked(t, state, nil, msg)
}

// waitString is WSTRINGIFY of a wait status.
func waitString(ps *os.ProcessState) string {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	switch {
	case !ok:
		return "wait status unknown"
	case ws.Exited():
		return fmt.Sprintf("exited with status %d", ws.ExitStatus())
	case ws.Signaled():
		s := strsignal(ws.Signal())
		if ws.CoreDump() {
			s += " (core dumped)"
		}
		return "terminated with signal " + s
	}
	return fmt.Sprintf("wait status %d", int(ws))
}

// strsignal words a signal as C's strsignal does ("Terminated", "Killed").
func strsignal(s syscall.Signal) string {
	r := []rune(s.String())
	if len(r) > 0 {
		r[0] = unicode.ToUpper(r[0])
	}
	return string(r)
}

// killCommandLocked kills a command task's process: SIGTERM, then SIGKILL after the
// grace period.
func (m *Master) killCommandLocked(t *task, policy *mesos.KillPolicy) {
	run := t.command
	run.killed = true
	grace := m.cfg.ExecutorShutdownGracePeriod
	if d := policy.GetGracePeriod(); d != nil {
		grace = time.Duration(d.GetNanoseconds())
	} else if d := t.info.GetKillPolicy().GetGracePeriod(); d != nil {
		grace = time.Duration(d.GetNanoseconds())
	}
	pid := run.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	time.AfterFunc(grace, func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
}

// stopCommandLocked kills a command task's process without a report, as an agent that
// forgets the task does (framework removed, agent restarted without checkpointing).
func stopCommandLocked(t *task) {
	if t.command != nil {
		run := t.command
		t.command = nil
		_ = syscall.Kill(-run.cmd.Process.Pid, syscall.SIGKILL)
	}
}
