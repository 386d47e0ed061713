package mesossim

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// envOrphanPIDs makes the test binary an executor that leaves processes behind, as the
// k8sm process runtime's containers would: it starts `sh -c 'sleep 300 & wait'` in a
// process group of its own (in its session), writes "<sh pid> <sleep pid>" to the file
// the variable names, and then waits to be killed, or exits when envOrphanMode is
// "exit". It never subscribes.
const (
	envOrphanPIDs = "MESOS_SIM_TEST_ORPHAN_PIDS"
	envOrphanMode = "MESOS_SIM_TEST_ORPHAN_MODE"
)

func init() {
	file := os.Getenv(envOrphanPIDs)
	if file == "" {
		return
	}
	cmd := exec.Command("sh", "-c", `sleep 300 & echo $$ $! > "$0.tmp" && mv "$0.tmp" "$0"; wait`, file)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		os.Exit(3)
	}
	if os.Getenv(envOrphanMode) != "exit" {
		select {}
	}
	for {
		if _, err := os.Stat(file); err == nil {
			os.Exit(0)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func orphanExecutor(t *testing.T, id, pidFile, mode string) mesos.ExecutorInfo {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	shell := false
	return mesos.ExecutorInfo{
		ExecutorID: mesos.ExecutorID{Value: id},
		Type:       mesos.ExecutorInfo_CUSTOM,
		Command: &mesos.CommandInfo{Value: &self, Shell: &shell, Arguments: []string{self},
			Environment: &mesos.Environment{Variables: []mesos.Environment_Variable{
				{Name: envOrphanPIDs, Value: &pidFile}, {Name: envOrphanMode, Value: &mode}}}},
		Resources: []mesos.Resource{scalar("cpus", 0.1), scalar("mem", 32)},
	}
}

// When an executor ends, killed or by itself, the agent destroys its container: the
// processes it started are killed too, even in a process group of their own and
// reparented to init (Mesos's POSIX launcher: killtree of its session and group).
func TestTheContainerOfAnEndedExecutorIsDestroyed(t *testing.T) {
	for _, mode := range []string{"killed", "exit"} {
		t.Run(mode, func(t *testing.T) {
			m := startSim(t, execConfig())
			s := newSched(t, m)
			s.subscribe(info())
			pidFile := filepath.Join(t.TempDir(), "pids")
			s.launch(s.offer(""), orphanExecutor(t, "e1", pidFile, mode), "t1")
			pids := waitPIDs(t, pidFile)
			if mode == "killed" {
				if err := m.KillExecutor("agent-1", s.id, "e1"); err != nil {
					t.Fatal(err)
				}
			}
			if f := s.next(scheduler.Event_FAILURE).GetFailure(); f.GetExecutorID().GetValue() != "e1" {
				t.Fatalf("FAILURE %v", f)
			}
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				var left []int
				for _, pid := range pids {
					if running(pid) {
						left = append(left, pid)
					}
				}
				if len(left) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("processes %v of the executor's container outlived it", left)
				}
			}
		})
	}
}

// waitPIDs reads the pids an orphan executor wrote, and kills them when the test ends
// if they are still there.
func waitPIDs(t *testing.T, file string) []int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(file)
		if f := strings.Fields(string(b)); err == nil && len(f) == 2 {
			var pids []int
			for _, s := range f {
				pid, _ := strconv.Atoi(s)
				pids = append(pids, pid)
			}
			t.Cleanup(func() {
				for _, pid := range pids {
					if running(pid) {
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			})
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatal("the executor did not start its processes")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// running says whether a process exists and is not a zombie left for its new parent.
func running(pid int) bool {
	if pid <= 1 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func TestContainerProcessesFollowsGroupsSessionsAndChildren(t *testing.T) {
	procs := []osProcess{
		{pid: 10, ppid: 1, pgrp: 10, session: 10},     // the executor's session and group were led by 9: not this
		{pid: 11, ppid: 1, pgrp: 11, session: 9},      // a container, reparented: in the session
		{pid: 12, ppid: 11, pgrp: 11, session: 9},     // its child
		{pid: 13, ppid: 12, pgrp: 13, session: 13},    // a daemon in a session of its own, still a child
		{pid: 14, ppid: 1, pgrp: 13, session: 13},     // in that daemon's session: reached through it
		{pid: 15, ppid: 1, pgrp: 15, session: 15},     // unrelated
		{pid: 16, ppid: 15, pgrp: 15, session: 15},    // unrelated
		{pid: 17, ppid: 1, pgrp: 9, session: 100},     // in the group 9 led (it cannot be, but killtree takes it)
		{pid: 18, ppid: 100, pgrp: 100, session: 100}, // the session 17 is in: taken too
	}
	got := map[int]bool{}
	for _, pid := range containerProcesses(procs, 9) {
		got[pid] = true
	}
	for _, pid := range []int{11, 12, 13, 14, 17, 18} {
		if !got[pid] {
			t.Errorf("%d not taken", pid)
		}
	}
	for _, pid := range []int{10, 15, 16} {
		if got[pid] {
			t.Errorf("%d taken", pid)
		}
	}
}
