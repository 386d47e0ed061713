package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseProcCgroup(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		want       map[string]string
	}{
		{"hybrid", "9:name=systemd:/\n4:memory:/process_api/b27\n2:cpu,cpuacct:/mesos/c1\n1:pids:/\n0::/\n",
			map[string]string{"name=systemd": "/", "memory": "/process_api/b27", "cpu": "/mesos/c1", "cpuacct": "/mesos/c1", "pids": "/", "": "/"}},
		{"v2 only, a cgroup gone", "0::/mesos/c1/leaf (deleted)\n", map[string]string{"": "/mesos/c1/leaf"}},
		{"a path with colons", "0::/a:b\n", map[string]string{"": "/a:b"}},
		{"nothing", "", map[string]string{}},
	} {
		if got := parseProcCgroup(tc.data); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseMountinfo(t *testing.T) {
	data := `23 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 /mesos/c1 /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/my\040unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate,memory_localevents
`
	want := []mount{
		{root: "/", point: "/sys/fs/cgroup/cpu,cpuacct", options: []string{"rw", "cpu", "cpuacct"}},
		{root: "/mesos/c1", point: "/sys/fs/cgroup/memory", options: []string{"rw", "memory"}},
		{root: "/", point: "/sys/fs/cgroup/my unified", v2: true, options: []string{"rw", "nsdelegate", "memory_localevents"}},
	}
	got := parseMountinfo(data)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseMountinfo:\n got  %+v\n want %+v", got, want)
	}
	if !got[0].hasController("cpuacct") || got[0].hasController("memory") || got[2].hasController("memory") {
		t.Errorf("hasController is wrong for %+v", got)
	}
}

func TestDirFor(t *testing.T) {
	for _, tc := range []struct {
		name      string
		m         mount
		p, want   string
		wantFound bool
	}{
		{"root mount", mount{root: "/", point: "/sys/fs/cgroup/memory"}, "/mesos/c1", "/sys/fs/cgroup/memory/mesos/c1", true},
		{"the root itself", mount{root: "/", point: "/sys/fs/cgroup"}, "/", "/sys/fs/cgroup", true},
		{"bind mount of the executor's cgroup", mount{root: "/mesos/c1", point: "/sys/fs/cgroup/memory"}, "/mesos/c1", "/sys/fs/cgroup/memory", true},
		{"below a bind mount", mount{root: "/mesos/c1", point: "/cg"}, "/mesos/c1/x", "/cg/x", true},
		{"a bind mount of another subtree", mount{root: "/mesos/c1", point: "/cg"}, "/mesos/c10", "", false},
		{"outside the cgroup namespace", mount{root: "/", point: "/cg"}, "/../../user.slice", "", false},
	} {
		got, ok := tc.m.dirFor(tc.p)
		if got != tc.want || ok != tc.wantFound {
			t.Errorf("%s: dirFor(%q) = %q, %v; want %q, %v", tc.name, tc.p, got, ok, tc.want, tc.wantFound)
		}
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{`a\040b`: "a b", `tab\011`: "tab\t", `plain`: "plain", `trail\04`: `trail\04`, `back\\x`: `back\\x`} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseKeyed(t *testing.T) {
	got := parseKeyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\nbad line here\nmax x\n")
	want := map[string]uint64{"oom_kill_disable": 0, "under_oom": 0, "oom_kill": 3}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseKeyed = %v, want %v", got, want)
	}
}

// fakeHost lays out a /proc/self (cgroup, mountinfo) and cgroup mounts under a
// temporary directory: plain directories, which is all detect reads on v1.
func fakeHost(t *testing.T, procCgroup string, mounts map[string]string, dirs ...string) string {
	t.Helper()
	root := t.TempDir()
	var mi strings.Builder
	for point, spec := range mounts { // spec: "<root> <fstype> <superoptions>"
		f := strings.Fields(spec)
		fmt.Fprintf(&mi, "40 31 0:38 %s %s rw,relatime - %s %s %s\n", f[0], filepath.Join(root, point), f[1], f[1], f[2])
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	must(t, os.WriteFile(filepath.Join(root, "cgroup"), []byte(procCgroup), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "mountinfo"), []byte(mi.String()), 0o644))
	return root
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestDetectV1(t *testing.T) {
	root := fakeHost(t, "4:memory:/mesos/c1\n2:cpu,cpuacct:/mesos/c1\n1:pids:/\n0::/\n", map[string]string{
		"memory":      "/ cgroup rw,memory",
		"cpu,cpuacct": "/ cgroup rw,cpu,cpuacct",
		"pids":        "/elsewhere cgroup rw,pids",
		"unified":     "/ cgroup2 rw",
	}, "memory/mesos/c1", "cpu,cpuacct/mesos/c1", "unified")
	must(t, os.WriteFile(filepath.Join(root, "unified", "cgroup.controllers"), []byte("hugetlb\n"), 0o644))
	m, err := detect(options{proc: root, name: "k8sm"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Version() != V1 || !reflect.DeepEqual(m.Controllers(), []string{"cpu", "cpuacct", "memory"}) || len(m.hiers) != 2 {
		t.Fatalf("detect = %s, want v1 with memory and cpu,cpuacct in one hierarchy", m)
	}
	for _, d := range []string{"memory/mesos/c1/k8sm", "cpu,cpuacct/mesos/c1/k8sm"} {
		if !exists(filepath.Join(root, d)) {
			t.Errorf("%s was not made", d)
		}
	}
	u := m.Unenforced(Limits{MemoryBytes: 1, CPUMilli: 1, Pids: 1})
	if len(u) != 1 || !strings.Contains(u[0], "pids limit not enforced") || !strings.Contains(u[0], "no mount of the hierarchy shows") {
		t.Errorf("Unenforced = %q, want the pids limit, for its mount shows another subtree", u)
	}
}

func TestDetectNothing(t *testing.T) {
	root := fakeHost(t, "0::/user.slice\n", map[string]string{"cg": "/ cgroup2 rw"}, "cg/user.slice")
	must(t, os.WriteFile(filepath.Join(root, "cg", "user.slice", "cgroup.controllers"), []byte("io\n"), 0o644))
	m, err := detect(options{proc: root, name: "k8sm"})
	if err == nil {
		t.Fatalf("detect = %s, want an error: no memory, cpu or pids controller anywhere", m)
	}
	for _, want := range []string{"offers [io]", "v1 memory: the executor is in no cgroup of this controller"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("detect's error %q does not say %q", err, want)
		}
	}
}

func TestWarnLocalEvents(t *testing.T) {
	for _, tc := range []struct {
		name        string
		controllers []string
		options     []string
		want        int
	}{
		{"memory without memory_localevents", []string{"memory", "cpu"}, []string{"rw", "nsdelegate"}, 1},
		{"memory with memory_localevents", []string{"memory"}, []string{"rw", "memory_localevents"}, 0},
		{"no memory", []string{"cpu"}, []string{"rw"}, 0},
	} {
		m := &Manager{version: V2, hiers: []hierarchy{{base: "/cg/k8sm", controllers: tc.controllers}}}
		warnLocalEvents(m, mount{point: "/cg", v2: true, options: tc.options})
		if len(m.Warnings()) != tc.want {
			t.Errorf("%s: Warnings = %q", tc.name, m.Warnings())
		}
	}
}
