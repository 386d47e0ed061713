package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// interrupts is the context the first Ctrl-C (or SIGTERM) cancels: k8sm-local then says
// it is stopping, and stops everything in order (the MesosCluster's teardown first,
// which may take up to 30 seconds, then the manager, ...). A second one kills everything
// it started at once (killStarted) and exits. stop ends the watch; the signals then
// have their default effect again.
func interrupts() (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
		case <-done:
			return
		}
		say("Stopping everything k8sm-local started; Ctrl-C again to force (kills it all at once, without deleting the MesosCluster first)")
		cancel()
		select {
		case <-sigs:
		case <-done:
			return
		}
		say("Forced: killing everything k8sm-local started")
		killStarted()
		forced.run()
		os.Exit(130)
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}

// forced holds what a forced stop does once the processes are killed: remove the
// temporary directories the normal stop would have.
var forced cleanups

// cleanups are functions to run once, in the order added.
type cleanups struct {
	mu sync.Mutex
	fs []func()
}

// add adds f.
func (c *cleanups) add(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fs = append(c.fs, f)
}

// run runs each function added.
func (c *cleanups) run() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.fs {
		f()
	}
}

// removeDirs removes dirs, trying again for a moment while the processes just killed
// that wrote into them are still going.
func removeDirs(dirs ...string) {
	for _, d := range dirs {
		if d == "" {
			continue
		}
		for range 10 {
			if os.RemoveAll(d) == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// proc is a process as /proc/<pid>/stat has it.
type proc struct{ pid, ppid, pgrp, session int }

// killStarted SIGKILLs every process this one started, and theirs: its descendants, and
// the process groups and sessions they lead, which hold those that were left by their
// parent. kube-apiserver, etcd, the manager and metrics-server each lead a group of
// their own, and the sim's executors a session with their pods.
func killStarted() {
	procs := readProcs()
	children := map[int][]int{}
	for _, p := range procs {
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	started := map[int]bool{}
	for todo := children[os.Getpid()]; len(todo) > 0; {
		pid := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if !started[pid] {
			started[pid] = true
			todo = append(todo, children[pid]...)
		}
	}
	for _, p := range procs {
		if p.pid != os.Getpid() && (started[p.pid] || started[p.pgrp] || started[p.session]) {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
}

// readProcs reads every process's ids from /proc.
func readProcs() []proc {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	procs := make([]proc, 0, len(stats))
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // gone meanwhile
		}
		if p, ok := parseStat(string(b)); ok {
			procs = append(procs, p)
		}
	}
	return procs
}

// parseStat reads the ids from a /proc/<pid>/stat line: "pid (comm) state ppid pgrp
// session ...", where comm may hold spaces and parentheses.
func parseStat(line string) (proc, bool) {
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return proc{}, false
	}
	fields := strings.Fields(line[end+1:])
	if len(fields) < 4 {
		return proc{}, false
	}
	var p proc
	var err error
	for i, dst := range []*int{&p.pid, &p.ppid, &p.pgrp, &p.session} {
		s := strings.TrimSpace(line[:open])
		if i > 0 {
			s = fields[i]
		}
		if *dst, err = strconv.Atoi(s); err != nil {
			return proc{}, false
		}
	}
	return p, true
}
