package main

import (
	"math"
	"runtime/debug"
	"testing"
	"testing/fstest"

	"github.com/go-logr/logr"
)

func TestCgroupMemoryLimit(t *testing.T) {
	const v2, v1 = "sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory/memory.limit_in_bytes"
	for _, c := range []struct {
		name  string
		files map[string]string
		want  int64
		ok    bool
	}{
		{"cgroup v2 limit", map[string]string{v2: "536870912\n"}, 536870912, true},
		{"cgroup v2 without a limit", map[string]string{v2: "max\n"}, 0, false},
		{"cgroup v1 limit", map[string]string{v1: "268435456\n"}, 268435456, true},
		{"cgroup v1 unlimited", map[string]string{v1: "9223372036854771712\n"}, 0, false},
		{"v2 before v1", map[string]string{v2: "1048576", v1: "2097152"}, 1048576, true},
		{"no cgroup files", map[string]string{}, 0, false},
		{"garbage", map[string]string{v2: "lots"}, 0, false},
	} {
		fsys := fstest.MapFS{}
		for name, data := range c.files {
			fsys[name] = &fstest.MapFile{Data: []byte(data)}
		}
		got, ok := cgroupMemoryLimit(fsys)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: got %d, %v; want %d, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

// The Go runtime's soft limit is set to 90% of the container's limit, and only when
// GOMEMLIMIT does not set one.
func TestSetMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(before)
	limited := fstest.MapFS{"sys/fs/cgroup/memory.max": &fstest.MapFile{Data: []byte("1000000000\n")}}
	for _, c := range []struct {
		name, env string
		fsys      fstest.MapFS
		want      int64
	}{
		{"the container's limit", "", limited, 900000000},
		{"GOMEMLIMIT wins", "123MiB", limited, math.MaxInt64},
		{"no limit", "", fstest.MapFS{}, math.MaxInt64},
	} {
		debug.SetMemoryLimit(math.MaxInt64)
		t.Setenv("GOMEMLIMIT", c.env)
		setMemoryLimit(logr.Discard(), c.fsys)
		if got := debug.SetMemoryLimit(-1); got != c.want {
			t.Errorf("%s: the Go memory limit is %d, want %d", c.name, got, c.want)
		}
	}
}
