// Package chaos is the chaos run: the real manager (two replicas with leader election),
// mesos-sim and a load of pods, Deployments and Jobs, while faults fire at random from a
// seed; an invariant checker counts, from Mesos's side and Kubernetes', the pods lost,
// the tasks launched twice or left orphaned, the pods left stuck, and the updates
// acknowledged before they were written. See README.md, "Chaos".
package chaos

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/k8sm/k8sm/internal/testenv"
	"github.com/k8sm/k8sm/internal/testzk"
)

var (
	flagSeed     = flag.Int64("chaos.seed", 1, "seed of the run: the fault plan and the load are a function of it")
	flagLong     = flag.Bool("chaos.long", false, "the long profile (1,000 pods over 50 agents, 150 faults, at least 20 leader SIGKILLs)")
	flagPods     = flag.Int("chaos.pods", 0, "pods to create, bare and through Deployments and Jobs (default 60, long 1000)")
	flagAgents   = flag.Int("chaos.agents", 0, "simulated Mesos agents (default 8, long 50)")
	flagFaults   = flag.Int("chaos.faults", 0, "faults to inject (default 12, or one of each kind if there are more kinds; long 150)")
	flagPace     = flag.Duration("chaos.pace", 0, "mean time between two faults (default 4s)")
	flagKinds    = flag.String("chaos.kinds", "", "comma-separated fault kinds to draw from (default all; see faultKinds)")
	flagSettle   = flag.Duration("chaos.settle", 0, "how long pods may stay Pending or Terminating once faults stop (default 180s, long 240s)")
	flagLogLevel = flag.String("chaos.log-level", "", "the managers' --zap-log-level (debug logs each launch; default info)")
	flagKeep     = flag.Bool("chaos.keep", false, "keep the logs directory (manager, kube-controller-manager, audit logs) after a passing run")
	flagBin      = flag.String("chaos.manager", "", "the manager binary to run (default: built from ./cmd/manager)")
	flagMemory   = flag.Bool("chaos.memory", false, "the managers keep the MesosTasks in memory (--mesostask-storage=memory): what is checked of MesosTasks in the API server (a Running pod's, its executor, an update written before its acknowledgement) is checked of the pods instead, or not at all")
	flagExec     = flag.Bool("chaos.exec", false, "agents run the real k8sm-executor (process runtime) instead of simulating tasks; adds the kill-executor fault")
	flagTear     = flag.Bool("chaos.teardown", true, "at the end, delete the MesosCluster while a few faults fire, and count what it leaves behind")
	flagZK       = flag.Bool("chaos.zk", true, "the cluster finds its master through ZooKeeper (zk://), which adds the zk-leader-change fault; "+
		"without ZooKeeper installed the run finds it at its URL, or fails in CI")
)

// profile is what one run does, from the flags.
type profile struct {
	seed          int64
	long          bool
	pods, agents  int
	faults        int
	pace          time.Duration
	kinds         []faultKind
	settle        time.Duration
	minLeaderKill int  // SIGKILLs of the leader the plan holds at least
	exec          bool // real executors (-chaos.exec)
	teardown      bool // the cluster deleted at the end (-chaos.teardown)
	zk            bool // the master found through ZooKeeper (-chaos.zk, and ZooKeeper installed)
	memory        bool // the managers keep the MesosTasks in memory (-chaos.memory)
}

// profileFromFlags is the profile the flags ask for, with what set changes (before the
// fault kinds are chosen, which follow exec and zk).
func profileFromFlags(set ...func(*profile)) (profile, error) {
	// Settling waits for kube-controller-manager too: after a restart-apiserver its
	// informers back off for up to a minute (30 s, jittered up to twice that) before its
	// Deployments and Jobs go on, and a Job then takes up to 45 s to run its pods.
	p := profile{seed: *flagSeed, long: *flagLong, pods: 60, agents: 8, faults: 12, pace: 4 * time.Second, settle: 180 * time.Second, exec: *flagExec,
		teardown: *flagTear, memory: *flagMemory}
	if p.long {
		p.pods, p.agents, p.faults, p.settle, p.minLeaderKill = 1000, 50, 150, 240*time.Second, 20
	}
	for _, f := range set {
		f(&p)
	}
	if p.zk = *flagZK; p.zk {
		if err := testzk.Installed(); err != nil {
			if testzk.Required() {
				return p, fmt.Errorf("-chaos.zk: %w", err)
			}
			p.zk = false
		}
	}
	kinds, err := parseKinds(*flagKinds, p.exec, p.zk)
	if err != nil {
		return p, err
	}
	p.kinds = kinds
	p.pods = orDefault(*flagPods, p.pods)
	p.agents = orDefault(*flagAgents, p.agents)
	p.faults = orDefault(*flagFaults, max(p.faults, len(p.kinds))) // every kind at least once
	if *flagPace > 0 {
		p.pace = *flagPace
	}
	if *flagSettle > 0 {
		p.settle = *flagSettle
	}
	if !hasKind(p.kinds, faultKillLeader) {
		p.minLeaderKill = 0
	}
	p.minLeaderKill = min(p.minLeaderKill, p.faults)
	return p, nil
}

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// reproduce is the command that runs this profile again.
func (p profile) reproduce() string {
	args := []string{fmt.Sprintf("-chaos.seed=%d", p.seed)}
	if p.long {
		args = append(args, "-chaos.long")
	}
	args = append(args, fmt.Sprintf("-chaos.pods=%d", p.pods), fmt.Sprintf("-chaos.agents=%d", p.agents), fmt.Sprintf("-chaos.faults=%d", p.faults))
	if *flagKinds != "" {
		args = append(args, "-chaos.kinds="+*flagKinds)
	}
	if *flagPace > 0 {
		args = append(args, "-chaos.pace="+p.pace.String())
	}
	if p.exec {
		args = append(args, "-chaos.exec")
	}
	if p.memory {
		args = append(args, "-chaos.memory")
	}
	if !p.teardown {
		args = append(args, "-chaos.teardown=false")
	}
	if !p.zk {
		args = append(args, "-chaos.zk=false")
	}
	if *flagSettle > 0 {
		args = append(args, "-chaos.settle="+p.settle.String())
	}
	assets, err := testenv.AssetsDir()
	if err != nil {
		assets = "$PWD/bin/k8s/<version>"
	}
	return "KUBEBUILDER_ASSETS=" + assets + " go test ./test/chaos -run '^TestChaos$' -count=1 -v -timeout 60m -args " + strings.Join(args, " ")
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(m.Run())
}

// TestChaos is the chaos run. It prints one line,
//
//	chaos: seed=S pods=N faults=F launched-twice=0 lost=0 orphaned=0 stuck=0 acked-unwritten=0 left-after-teardown=0
//
// and fails, naming the pods and tasks, when a count is not zero.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos run starts kube-apiserver, mesos-sim and the manager; not in -short")
	}
	p, err := profileFromFlags()
	if err != nil {
		t.Fatal(err)
	}
	runChaos(t, p)
}

// TestChaosWithTheMesosTasksInMemory is the chaos run again, of the install that keeps
// the MesosTasks in memory (config/tasks-in-memory), with the agents running the real
// k8sm-executor: the flags' profile with -chaos.memory and -chaos.exec, so that go test
// ./... runs both installs' short profile, and executor processes and their kills. It
// leaves the long profile (make chaos) and a run asked for with -chaos.memory to
// TestChaos.
func TestChaosWithTheMesosTasksInMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos run starts kube-apiserver, mesos-sim and the manager; not in -short")
	}
	if *flagLong || *flagMemory {
		t.Skip("TestChaos runs the profile asked for; this one is the short profile's second install")
	}
	p, err := profileFromFlags(func(p *profile) { p.memory, p.exec = true, true })
	if err != nil {
		t.Fatal(err)
	}
	runChaos(t, p)
}

// runChaos runs profile p and checks what it left.
func runChaos(t *testing.T, p profile) {
	start := time.Now()
	r := newRun(t, p)
	faultPlan := planFaults(p)
	loadPlan := planLoad(p, r.withControllers, faultPlan.expected())
	t.Logf("profile: seed=%d pods=%d agents=%d faults=%d (fault phase about %s, kinds %s); controllers: %v; logs in %s",
		p.seed, p.pods, p.agents, p.faults, faultPlan.expected().Round(time.Second), kindNames(p.kinds), r.withControllers, r.logDir)
	t.Logf("reproduce: %s", p.reproduce())

	r.waitReady()
	loadDone := r.startLoad(loadPlan)
	r.runFaults(faultPlan, nil)
	<-loadDone
	r.quiesce()
	settled := r.settle(p.settle)
	rep := r.check(settled)
	if p.teardown {
		rep.leftAfterTeardown = r.teardown(planTeardown(p), teardownBound)
		rep.faults = r.faults.count()
	}
	t.Logf("faults by kind: %s; the managers' API requests the proxy held back, failed or found kube-apiserver down for: %s; kube-apiserver restarts: %s; managers that exited by themselves: %v",
		r.faults.summary(), r.proxy.summary(), r.api.summary(), r.mgrs.exits())
	if p.memory {
		own, asked := r.mgrs.ledWithCopies()
		t.Logf("leaders that started from a copy of the MesosTasks: %d from their own, %d from another replica's, asked for", own, asked)
	}
	t.Logf("mesos-sim saw %s", r.rec.summary())
	t.Logf("acknowledgements checked %d (not checked: TASK_STARTING, acknowledged before it is written by design, %d; TASK_RUNNING whose MesosTask create was deferred, its pod written first, %d; of tasks whose MesosTask was gone %d; of updates never sent %d; MesosTask unreadable %d; ends, with the MesosTasks in memory, %d); run took %s",
		rep.acksChecked, rep.acksStarting, rep.acksDeferred, rep.acksGone, rep.acksUnknown, rep.acksUnread, rep.acksInMemory, time.Since(start).Round(time.Second))
	if rep.failed() {
		r.keepLogs = true
		t.Errorf("%s\nreproduce: %s\nmanager, kube-controller-manager and audit logs: %s", rep.details(), p.reproduce(), r.logDir)
	}
	fmt.Println(rep.line(p.seed))
}
