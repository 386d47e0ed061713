//go:build linux

package process

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// supported: the watchdog and the sweep read /proc.
const supported = true

// spawner is the goroutine that starts every child process, locked to its OS thread.
var spawner struct {
	once sync.Once
	reqs chan spawnRequest
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// startProcess starts cmd with PR_SET_PDEATHSIG = SIGKILL, from the spawner's thread.
// The kernel sends the signal when the thread that forked the child ends, not the
// process; Go ends a thread only when a goroutine locked to it returns, and the
// spawner's never does, so the signal comes when the executor's process dies. (Go's
// fork checks the parent is still there after setting it, so a child forked as the
// executor dies does not slip through.)
func startProcess(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnRequest)
		go spawn(spawner.reqs)
	})
	done := make(chan error, 1)
	spawner.reqs <- spawnRequest{cmd: cmd, done: done}
	return <-done
}

func spawn(reqs <-chan spawnRequest) {
	runtime.LockOSThread() // for good: this thread lives as long as the process
	for r := range reqs {
		r.done <- r.cmd.Start()
	}
}

// proc is what /proc/<pid>/stat says about a process.
type proc struct {
	pid, pgrp int
	start     uint64
	zombie    bool
}

// readProc reads /proc/<pid>/stat: the fields after the command name (which may hold
// spaces and parentheses) are state, ppid, pgrp, …, and starttime, the 22nd field.
func readProc(pid int) (proc, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return proc{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return proc{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return proc{}, false
	}
	pgrp, _ := strconv.Atoi(f[2])
	start, _ := strconv.ParseUint(f[19], 10, 64)
	return proc{pid: pid, pgrp: pgrp, start: start, zombie: f[0] == "Z" || f[0] == "X"}, true
}

// procStart is a process's start time in clock ticks after boot; 0 if unknown.
func procStart(pid int) uint64 {
	p, _ := readProc(pid)
	return p.start
}

func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

func pidNamespace() string {
	ns, _ := os.Readlink("/proc/self/ns/pid")
	return ns
}

// processes lists the live processes but this one.
func processes() []proc {
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || pid <= 1 {
			continue
		}
		if p, ok := readProc(pid); ok && !p.zombie {
			out = append(out, p)
		}
	}
	return out
}

// carriesCookie says whether a process's environment (as it was exec'd) holds one of
// the cookies. A process this one may not read (another user's) does not.
func carriesCookie(pid int, cookies map[string]bool) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		return false
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte(EnvCookie+"=")); ok && cookies[string(v)] {
			return true
		}
	}
	return false
}

// killLeftovers SIGKILLs what is left of the recorded containers: every process that
// carries a recorded cookie, and the whole group of a recorded leader that is still
// alive with its recorded start time. Records from another boot or PID namespace are
// ignored. It looks again until nothing is left (a process may fork as it is killed),
// and returns how many processes it killed.
func killLeftovers(recs []record) int {
	boot, ns := bootID(), pidNamespace()
	leaders, cookies := map[int]uint64{}, map[string]bool{}
	for _, r := range recs {
		if r.BootID == boot && r.PIDNamespace == ns {
			leaders[r.PGID] = r.StartTime
			cookies[r.Cookie] = true
		}
	}
	if len(cookies) == 0 {
		return 0
	}
	killed := map[int]bool{}
	for round := 0; round < 20; round++ {
		found := false
		for _, p := range processes() {
			switch start, ok := leaders[p.pid]; {
			case ok && p.pgrp == p.pid && start != 0 && p.start == start:
				_ = syscall.Kill(-p.pid, syscall.SIGKILL)
			case carriesCookie(p.pid, cookies):
				_ = syscall.Kill(p.pid, syscall.SIGKILL)
			default:
				continue
			}
			found, killed[p.pid] = true, true
		}
		if !found {
			break
		}
		time.Sleep(10 * time.Millisecond) // let the killed die before looking again
	}
	return len(killed)
}
