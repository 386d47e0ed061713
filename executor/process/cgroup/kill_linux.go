package cgroup

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// killListed sends SIGKILL to the processes the cgroup.procs files list, and says how
// many it found. A pid is signalled through a pidfd opened before the files are read
// again, and only if that second read lists it too: the pidfd then names a process
// that was in the cgroup after it was opened, never one that took over the pid of a
// process that exited in between. Without pidfds (before Linux 5.3) kill(2) it is.
func killListed(files []string) (int, error) {
	first := map[int]bool{}
	for _, f := range files {
		pids, err := readPids(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, err
		}
		for _, pid := range pids {
			first[pid] = true
		}
	}
	fds := map[int]int{}
	for pid := range first {
		fd, err := unix.PidfdOpen(pid, 0)
		switch {
		case err == nil:
			fds[pid] = fd
		case errors.Is(err, unix.ENOSYS):
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
	second := map[int]bool{}
	for _, f := range files {
		pids, _ := readPids(f)
		for _, pid := range pids {
			second[pid] = true
		}
	}
	for pid, fd := range fds {
		if second[pid] {
			_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		}
		_ = unix.Close(fd)
	}
	return len(first), nil
}
