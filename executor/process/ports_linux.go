//go:build linux

package process

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// tcpListeners are the sockets of the executor's network namespace, the agent's and the
// pods', listening on port, IPv4's and IPv6's (a kernel without IPv6 has no tcp6).
func tcpListeners(port uint16) ([]tcpSocket, error) {
	var out []tcpSocket
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ls, err := parseListeners(f, port)
		_ = f.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, ls...)
	}
	return out, nil
}

// podProcesses is how the pod's processes are found: pids to look at, and, for the
// containers without a cgroup, the process groups and cookies that make a process one
// of theirs.
type podProcesses struct {
	pids    []int
	leaders map[int]bool
	cookies map[string]bool
}

// processes finds the processes of the pod's running containers: each container's
// process, and those of its cgroup; for a container without one, its process group (its
// process, alive, holds the group's id) and its cookie.
func (p *pod) processes() podProcesses {
	var pp podProcesses
	var cgroups []*ctrCgroup
	p.mu.Lock()
	for _, c := range append(append([]*container{}, p.inits...), p.mains...) {
		if c.cmd == nil || c.cmd.Process == nil || isClosed(c.exited) {
			continue
		}
		pid := c.cmd.Process.Pid
		pp.pids = append(pp.pids, pid)
		if c.cg != nil {
			cgroups = append(cgroups, c.cg)
			continue
		}
		if pp.leaders == nil {
			pp.leaders, pp.cookies = map[int]bool{}, map[string]bool{}
		}
		pp.leaders[pid] = true
		if cookie := cookieOf(c.launch); cookie != "" {
			pp.cookies[cookie] = true
		}
	}
	p.mu.Unlock()
	for _, cc := range cgroups {
		pids, _ := cc.cg.Pids() // one that cannot be read counts its process only
		pp.pids = append(pp.pids, pids...)
	}
	return pp
}

// isClosed says whether ch is closed; a nil one is not.
func isClosed(ch chan struct{}) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// cookieOf is a launch's EnvCookie value.
func cookieOf(l *launch) string {
	if l == nil {
		return ""
	}
	for _, kv := range l.Env {
		if v, ok := strings.CutPrefix(kv, EnvCookie+"="); ok {
			return v
		}
	}
	return ""
}

// ownedSockets returns which of the socket inodes a process of the pod holds. It looks
// at the processes found first, and goes through every process of the agent only for
// the containers without a cgroup, and only until each inode is found.
func (p *pod) ownedSockets(inodes map[uint64]bool) map[uint64]bool {
	pp := p.processes()
	owned := map[uint64]bool{}
	seen := map[int]bool{}
	for _, pid := range pp.pids {
		if !seen[pid] {
			seen[pid] = true
			holdsSockets(pid, inodes, owned)
		}
		if len(owned) == len(inodes) {
			return owned
		}
	}
	if len(pp.leaders) == 0 {
		return owned
	}
	for _, pid := range allPids() {
		if seen[pid] || !pp.has(pid) {
			continue
		}
		holdsSockets(pid, inodes, owned)
		if len(owned) == len(inodes) {
			break
		}
	}
	return owned
}

// has says whether pid is in a process group of the leaders or carries a cookie.
func (pp podProcesses) has(pid int) bool {
	if pr, ok := readProc(pid); ok && pp.leaders[pr.pgrp] {
		return true
	}
	return carriesCookie(pid, pp.cookies)
}

// allPids are the pids of /proc.
func allPids() []int {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer func() { _ = d.Close() }()
	names, _ := d.Readdirnames(-1)
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// holdsSockets adds to owned those of inodes that pid has open. A process gone, or one
// whose descriptors this process may not read, holds none.
func holdsSockets(pid int, inodes, owned map[uint64]bool) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	fds, _ := d.Readdirnames(-1)
	_ = d.Close()
	for _, fd := range fds {
		link, err := os.Readlink(dir + fd)
		if err != nil {
			continue
		}
		s, ok := strings.CutPrefix(link, "socket:[")
		if !ok {
			continue
		}
		if ino, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64); err == nil && inodes[ino] {
			owned[ino] = true
		}
	}
}
