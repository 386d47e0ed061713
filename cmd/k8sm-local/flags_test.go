package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A number of agents mesos-sim cannot run is refused before anything starts, naming the
// flag: with none, the demo would wait its whole --timeout for a pod no agent can take;
// past 253, mesos-sim has no loopback address left for the next agent (127.0.0.N), and
// would say so only after kube-apiserver started. With --mesos-master no sim runs, and
// --agents does not matter. A --timeout that is not positive gives the pod no time.
func TestCheckRefusesFlagsTheDemoCannotRunWith(t *testing.T) {
	dir := t.TempDir()
	file := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := options{executor: file("k8sm-executor"), manager: file("manager"), crds: dir, install: dir, assets: dir}
	for _, tc := range []struct {
		name string
		set  func(*options)
		want string // in the error; empty: none
	}{
		{"the defaults", func(*options) {}, ""},
		{"one agent", func(o *options) { o.agents = 1 }, ""},
		{"253 agents", func(o *options) { o.agents = 253 }, ""},
		{"no agent", func(o *options) { o.agents = 0 }, "--agents 0: mesos-sim runs 1 to 253 agents"},
		{"negative", func(o *options) { o.agents = -2 }, "--agents -2: mesos-sim runs 1 to 253 agents"},
		{"too many", func(o *options) { o.agents = 254 }, "--agents 254: mesos-sim runs 1 to 253 agents"},
		{"no agent, another Mesos", func(o *options) { o.agents, o.master = 0, "http://m1:5050" }, ""},
		{"no time", func(o *options) { o.timeout = 0 }, "--timeout must be positive, not 0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			o.agents, o.timeout = 3, defaultTimeout
			tc.set(&o)
			err := o.check()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("check() = %v, want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("check() = %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// The flags' defaults are ones check takes.
func TestDefaultFlagsAreChecked(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.agents < 1 || o.agents > maxSimAgents || o.timeout <= 0 {
		t.Errorf("defaults --agents %d --timeout %s: check would refuse them", o.agents, o.timeout)
	}
}

// Without kubectl, what the demo says it would have shown is the command it runs with one.
func TestNoKubectlToShowNamesTheCommandShowRuns(t *testing.T) {
	if got, want := noKubectlToShow(), "`kubectl get mesosclusters,mesostasks,pods,nodes -o wide`"; !strings.Contains(got, want) {
		t.Errorf("noKubectlToShow() = %q, want it to name %s", got, want)
	}
}

// --tasks-in-memory starts kube-apiserver with every CRD of --crds but the MesosTask's,
// as dist/install-with-tasks-in-memory.yaml has none, and has the manager serve the
// MesosTasks (it implies --tasks-api); without it, every CRD.
func TestTheMesosTasksInMemoryHaveNoCRD(t *testing.T) {
	crds := filepath.Join("..", "..", "config", "crd", "bases")
	for _, tc := range []struct {
		flags  []string
		want   []string
		served bool
	}{
		{nil, []string{crds}, false},
		{[]string{"--tasks-api"}, []string{crds}, true},
		{[]string{"--tasks-in-memory"}, []string{filepath.Join(crds, "mesos.k8sm.io_mesosclusters.yaml"), filepath.Join(crds, "mesos.k8sm.io_outagetolerations.yaml")}, true},
	} {
		o, err := parseFlags(append([]string{"--crds", crds}, tc.flags...))
		if err != nil {
			t.Fatal(err)
		}
		got, err := crdPaths(o)
		if err != nil || strings.Join(got, " ") != strings.Join(tc.want, " ") || o.tasksAPI != tc.served {
			t.Errorf("%v: CRDs %v (%v), the API served %v; want %v, %v", tc.flags, got, err, o.tasksAPI, tc.want, tc.served)
		}
	}
}
