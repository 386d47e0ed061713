package mesossim

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// destroyContainer kills what is left of an executor's container once the executor
// process (pid, reaped) has exited or been killed, as a Mesos agent does: no process
// an executor started outlives it, wherever it moved.
//
// Mesos's POSIX launcher starts an executor in a session of its own
// (PosixLauncher::fork in src/slave/containerizer/mesos/launcher.cpp passes
// Subprocess::ChildHook::SETSID()), and destroys its container with
// os::killtree(pid, SIGKILL, groups=true, sessions=true) (PosixLauncher::destroy;
// 3rdparty/stout/include/stout/os/posix/killtree.hpp). For a root that has already
// exited, killtree starts from the processes still in the process group or the session
// it led, follows children, and the groups and sessions of every process it reaches,
// stops each with SIGSTOP so that none forks away meanwhile, then sends SIGKILL (and
// SIGCONT). With cgroups isolation (the Linux launcher) the container's whole cgroup
// is killed instead. This does the same as killtree, from /proc; where there is no
// /proc, the executor's process group is all it reaches.
//
// It starts from the group and session only, never from the pid itself, which was
// reaped and could be another process's by now.
func destroyContainer(pid int) {
	stopped := map[int]bool{}
	for range 100 { // until no process is left to stop
		procs, err := listProcesses()
		if err != nil {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			return
		}
		grew := false
		for _, p := range containerProcesses(procs, pid) {
			if !stopped[p] {
				_ = syscall.Kill(p, syscall.SIGSTOP)
				stopped[p], grew = true, true
			}
		}
		if !grew {
			break
		}
	}
	for p := range stopped {
		_ = syscall.Kill(p, syscall.SIGKILL)
		_ = syscall.Kill(p, syscall.SIGCONT)
	}
}

// osProcess is what /proc/<pid>/stat says of a live process.
type osProcess struct{ pid, ppid, pgrp, session int }

// listProcesses lists the live processes (not zombies) but this one and init.
func listProcesses() ([]osProcess, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var out []osProcess
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 1 || pid == self {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		i := bytes.LastIndexByte(b, ')')
		if err != nil || i < 0 {
			continue
		}
		// After the command name: state, ppid, pgrp, session, …
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 4 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		p := osProcess{pid: pid}
		p.ppid, _ = strconv.Atoi(f[1])
		p.pgrp, _ = strconv.Atoi(f[2])
		p.session, _ = strconv.Atoi(f[3])
		out = append(out, p)
	}
	return out, nil
}

// containerProcesses is what killtree takes for a root that has exited: the processes
// in the process group or session it led, and, until nothing more comes in, the
// children of those taken and the members of their groups and sessions.
func containerProcesses(procs []osProcess, root int) []int {
	taken := map[int]bool{}
	groups, sessions := map[int]bool{root: true}, map[int]bool{root: true}
	for grew := true; grew; {
		grew = false
		for _, p := range procs {
			if !taken[p.pid] && (groups[p.pgrp] || sessions[p.session] || taken[p.ppid]) {
				taken[p.pid], groups[p.pgrp], sessions[p.session], grew = true, true, true, true
			}
		}
	}
	out := make([]int, 0, len(taken))
	for pid := range taken {
		out = append(out, pid)
	}
	return out
}
