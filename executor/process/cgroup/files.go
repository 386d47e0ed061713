package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Remove kills every process in the cgroup and below it, and removes the cgroup with
// its children, deepest first, in every hierarchy. What is gone already is no error:
// Remove may be called again, and after the agent destroyed the executor's cgroup.
func (c *Cgroup) Remove() error {
	if err := c.kill(); err != nil {
		return err
	}
	var errs []error
	for _, d := range c.dirs {
		errs = append(errs, rmdirAll(d))
	}
	return errors.Join(errs...)
}

// kill kills the processes in the cgroup and below. On v2, cgroup.kill (Linux 5.14)
// does it at once, a process forking as it goes included; elsewhere SIGKILL goes to
// each process listed, again until none is (a fork races a round, never all of them:
// each round kills the forker).
func (c *Cgroup) kill() error {
	if c.m.version == V2 {
		err := write(filepath.Join(c.dirs[0], "cgroup.kill"), "1")
		if err == nil || !exists(c.dirs[0]) {
			return nil
		}
	}
	for round := range 100 {
		files, err := procsFilesBelow(c.dirs)
		if err != nil {
			return err
		}
		n, err := killListed(files)
		if err != nil || n == 0 {
			return err
		}
		time.Sleep(time.Duration(min(round+1, 10)) * 10 * time.Millisecond)
	}
	return fmt.Errorf("processes remain in %s", c.dirs[0])
}

// procsFilesBelow lists the cgroup.procs files of the cgroups dirs and their
// descendants.
func procsFilesBelow(dirs []string) ([]string, error) {
	var out []string
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // removed as we walked
				}
				return err
			}
			if e.IsDir() {
				out = append(out, filepath.Join(p, "cgroup.procs"))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// rmdirAll removes cgroup dir and the cgroups below it, deepest first. A cgroup
// whose last process has just died may stay busy a moment (the kernel finishes its
// exit asynchronously): each rmdir is tried again on EBUSY for up to 5 s, as crun
// and the Mesos agent do.
func rmdirAll(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for i := len(dirs) - 1; i >= 0; i-- {
		for {
			err := os.Remove(dirs[i])
			if err == nil || errors.Is(err, fs.ErrNotExist) {
				break
			}
			if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
				return err
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// mkdir makes a cgroup; one that is there is fine.
func mkdir(dir string) error {
	err := os.Mkdir(dir, 0o755)
	if errors.Is(err, fs.ErrExist) {
		if st, serr := os.Stat(dir); serr == nil && st.IsDir() {
			return nil
		}
	}
	return err
}

// write writes a control file in one write(2), as the kernel wants it.
func write(file, value string) error {
	f, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, file, err)
	}
	return nil
}

func exists(file string) bool {
	_, err := os.Stat(file)
	return err == nil
}

// readWords is a file's words, or none if it cannot be read.
func readWords(file string) []string {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// readPids reads a cgroup.procs file.
func readPids(file string) ([]int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, w := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(w); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// readUint reads a file that holds one number.
func readUint(file string) (uint64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	return n, nil
}

// readKeyed reads a flat keyed file ("key value" lines: memory.events, memory.stat,
// memory.oom_control, cpu.stat).
func readKeyed(file string) (map[string]uint64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return parseKeyed(string(b)), nil
}

func parseKeyed(data string) map[string]uint64 {
	out := map[string]uint64{}
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if n, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			out[f[0]] = n
		}
	}
	return out
}
