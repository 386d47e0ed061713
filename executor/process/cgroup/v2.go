package cgroup

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
)

// setupV2 prepares the executor's v2 cgroup own for the pods' cgroups. A cgroup that
// gives controllers to its children may hold no process (the no-internal-processes
// rule, from which only the root is exempt), and the executor's cgroup holds the
// executor: so its processes move into own/k8sm-executor first, as the Mesos agent
// puts a container's processes in <container>/leaf for the same reason. Then own
// gives its children the controllers it offers among memory, cpu and pids, and
// own/<name> (the pods' parent) gives the same to the pods.
//
// A controller own does not offer stays off, recorded with the reason; with none,
// the cgroups still hold the pods' processes, so that Remove and the agent's
// destroy find them all.
func setupV2(own, name string) (*Manager, error) {
	var offered []string
	for _, c := range readWords(filepath.Join(own, "cgroup.controllers")) {
		if contains(v2Controllers, c) {
			offered = append(offered, c)
		}
	}
	if !isRoot(own) {
		if err := evacuate(own, filepath.Join(own, executorLeaf)); err != nil {
			return nil, fmt.Errorf("v2: cannot move the executor's processes out of %s: %w", own, err)
		}
	}
	enabled := enable(own, offered)
	base := filepath.Join(own, name)
	if err := mkdir(base); err != nil {
		return nil, fmt.Errorf("v2: %w", err)
	}
	enabled = enable(base, enabled)
	m := &Manager{version: V2, hiers: []hierarchy{{base: base, controllers: enabled}}, unusable: map[string]string{}}
	for _, c := range v2Controllers {
		switch {
		case contains(enabled, c):
		case contains(offered, c):
			m.unusable[c] = fmt.Sprintf("v2: %s cannot give it to its children", own)
		default:
			m.unusable[c] = fmt.Sprintf("v2: the executor's cgroup %s does not offer it", own)
		}
	}
	return m, nil
}

// isRoot: the root of a v2 hierarchy has no cgroup.type. The root of a cgroup
// namespace has one: it is no root for the no-internal-processes rule.
func isRoot(dir string) bool { return !exists(filepath.Join(dir, "cgroup.type")) }

// evacuate moves every process of cgroup from into cgroup to, a child it makes;
// again while processes appear (one the executor was forking as it moved).
func evacuate(from, to string) error {
	if err := mkdir(to); err != nil {
		return err
	}
	for range 20 {
		pids, err := readPids(filepath.Join(from, "cgroup.procs"))
		if err != nil || len(pids) == 0 {
			return err
		}
		for _, pid := range pids {
			err := write(filepath.Join(to, "cgroup.procs"), strconv.Itoa(pid))
			if err != nil && !errors.Is(err, syscall.ESRCH) { // ESRCH: it exited
				return err
			}
		}
	}
	return fmt.Errorf("processes keep appearing in %s", from)
}

// enable gives the children of dir each controller it can among want, one at a time
// so that one refused (a realtime process stops cpu) leaves the others; it returns
// those dir's children have.
func enable(dir string, want []string) []string {
	for _, c := range want {
		_ = write(filepath.Join(dir, "cgroup.subtree_control"), "+"+c)
	}
	var on []string
	have := readWords(filepath.Join(dir, "cgroup.subtree_control"))
	for _, c := range want {
		if contains(have, c) {
			on = append(on, c)
		}
	}
	return on
}
