package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/podtask"
)

// faultKind is one kind of fault the run injects.
type faultKind string

const (
	faultKillLeader     faultKind = "kill-leader"       // SIGKILL of the leading manager replica, started again
	faultTermLeader     faultKind = "term-leader"       // SIGTERM of the leader: it hands over, started again
	faultFailoverMaster faultKind = "failover-master"   // mesossim FailoverMaster
	faultLateAgent      faultKind = "late-agent"        // FailoverMaster, one agent registering again only after a while
	faultLateAgentNew   faultKind = "late-agent-leader" // late-agent, and the leader SIGKILLed at once: the next one subscribes while the agent is away
	faultMasterDown     faultKind = "master-down"       // SetDown(true), up again after a while
	faultPartition      faultKind = "partition-agent"   // PartitionAgent, HealAgent after a while
	faultRestartAgent   faultKind = "restart-agent"     // RestartAgent
	faultRemoveAgent    faultKind = "remove-agent"      // RemoveAgent: an agent marked gone for good, its tasks TASK_GONE_BY_OPERATOR
	faultDropStream     faultKind = "drop-stream"       // DropStream of the framework
	faultDuplicate      faultKind = "duplicate-updates" // every update twice, for a while
	faultDelay          faultKind = "delay-updates"     // updates held back, for a while
	faultFailAccepts    faultKind = "fail-accepts"      // the next ACCEPTs answered 503, applied or not
	faultSlowWrites     faultKind = "slow-writes"       // the managers' API writes held back, for a while
	faultAPIErrors      faultKind = "api-errors"        // some of the managers' API writes answered 409/5xx, for a while
	faultReadErrors     faultKind = "read-errors"       // some of the managers' API reads answered 429/5xx, for a while
	faultBreakWatches   faultKind = "break-watches"     // the managers' watches ended; some resumed ones answered 410 Expired, for a while
	faultStaleReads     faultKind = "stale-reads"       // what the managers read (watch events, GET and LIST answers) held back, for a while
	faultZKLeader       faultKind = "zk-leader-change"  // the leading master dies and leaves ZooKeeper, none leads for a while, then one leads at a new address (-chaos.zk)
	faultUpgradeExec    faultKind = "upgrade-executor"  // the MesosCluster's executor URI changed, as an operator upgrade does
	faultRestartAPI     faultKind = "restart-apiserver" // kube-apiserver stopped, started again after a while (etcd keeps the data)
	faultKillExecutor   faultKind = "kill-executor"     // an agent's k8sm-executor process is killed (-chaos.exec only)
	faultLoseRecords    faultKind = "lose-records"      // every replica SIGKILLed, every MesosTask deleted while none runs, the replicas started again
	faultMaintenance    faultKind = "maintenance"       // an agent's machine scheduled for maintenance, the window cancelled after a while
)

// faultKinds are the kinds a run draws from by default.
var faultKinds = []faultKind{faultKillLeader, faultTermLeader, faultFailoverMaster, faultLateAgent, faultLateAgentNew, faultMasterDown, faultPartition,
	faultRestartAgent, faultRemoveAgent, faultDropStream, faultDuplicate, faultDelay, faultFailAccepts, faultSlowWrites, faultAPIErrors,
	faultRestartAPI, faultReadErrors, faultBreakWatches, faultStaleReads, faultUpgradeExec, faultLoseRecords, faultMaintenance}

// parseKinds reads -chaos.kinds; with real executors kill-executor is one more kind, and
// with the master found through ZooKeeper zk-leader-change.
func parseKinds(s string, exec, zk bool) ([]faultKind, error) {
	known := slices.Clip(faultKinds)
	if exec {
		known = append(known, faultKillExecutor)
	}
	if zk {
		known = append(known, faultZKLeader)
	}
	if strings.TrimSpace(s) == "" {
		return known, nil
	}
	var out []faultKind
	for _, name := range strings.Split(s, ",") {
		k := faultKind(strings.TrimSpace(name))
		if k == faultKillExecutor && !exec {
			return nil, fmt.Errorf("-chaos.kinds: %s needs -chaos.exec (simulated tasks have no executor to kill)", k)
		}
		if k == faultZKLeader && !zk {
			return nil, fmt.Errorf("-chaos.kinds: %s needs -chaos.zk (the master is found at its URL otherwise)", k)
		}
		if !slices.Contains(known, k) {
			return nil, fmt.Errorf("-chaos.kinds: unknown fault kind %q (known: %s)", k, kindNames(known))
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// randDur is a random duration in [0, d).
func randDur(rng *rand.Rand, d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rng.Int64N(int64(d)))
}

func hasKind(kinds []faultKind, k faultKind) bool { return slices.Contains(kinds, k) }

func kindNames(kinds []faultKind) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ",")
}

// fault is one planned fault.
type fault struct {
	at        time.Duration // since the fault phase began
	kind      faultKind
	agent     int           // index of the agent (partition, restart)
	lasts     time.Duration // how long it lasts (master-down, partition, duplicate, delay, restart-apiserver: down before it starts again)
	delay     time.Duration // how long updates (delay-updates), writes (slow-writes) or watch events (stale-reads) are held back
	n         int           // ACCEPTs to fail (fail-accepts)
	processed bool          // the failed ACCEPTs are applied first (fail-accepts)
	rate      float64       // share of writes (api-errors), reads (read-errors) or resumed watches (break-watches) that fail
	tenure    time.Duration // how long the leader leads at least before it is hit (kill-leader, term-leader)
}

func (f fault) String() string {
	switch f.kind {
	case faultPartition, faultLateAgent, faultLateAgentNew, faultMaintenance:
		return fmt.Sprintf("%s agent-%d for %s", f.kind, f.agent+1, f.lasts)
	case faultRestartAgent, faultRemoveAgent, faultKillExecutor:
		return fmt.Sprintf("%s agent-%d", f.kind, f.agent+1)
	case faultMasterDown, faultDuplicate, faultRestartAPI, faultZKLeader:
		return fmt.Sprintf("%s for %s", f.kind, f.lasts)
	case faultKillLeader, faultTermLeader:
		return fmt.Sprintf("%s after %s of leadership", f.kind, f.tenure.Round(time.Millisecond))
	case faultDelay, faultSlowWrites, faultStaleReads:
		return fmt.Sprintf("%s by %s for %s", f.kind, f.delay, f.lasts)
	case faultAPIErrors, faultReadErrors, faultBreakWatches:
		return fmt.Sprintf("%s %.0f%% for %s", f.kind, 100*f.rate, f.lasts)
	case faultFailAccepts:
		return fmt.Sprintf("%s n=%d processed=%v", f.kind, f.n, f.processed)
	}
	return string(f.kind)
}

type faultPlan []fault

// duration is how long the fault phase is planned to last: until the last fault ended.
func (fp faultPlan) duration() time.Duration {
	var end time.Duration
	for _, f := range fp {
		end = max(end, f.at+f.lasts)
	}
	return end
}

// leaseDuration is how long a SIGKILLed leader's lease keeps the other replica waiting
// (controller-runtime's default).
const leaseDuration = 15 * time.Second

// apiServerStart is about what a kube-apiserver restart adds to the fault phase: its
// start (3-5 s on 2 cores), and the Lease of a leader that stepped down running out
// before the next manager fault finds a leader.
const apiServerStart = 10 * time.Second

// expected is how long the fault phase is expected to last: a leader SIGKILL holds the
// next fault back until the other replica took the lease over; a kube-apiserver
// restart holds the next manager fault back until a replica leads again.
func (fp faultPlan) expected() time.Duration {
	d := fp.duration()
	for _, f := range fp {
		switch f.kind {
		case faultKillLeader, faultLateAgentNew:
			d += leaseDuration
		case faultRestartAPI:
			d += apiServerStart
		}
	}
	return d
}

// planFaults draws the run's faults from its seed: every kind at least once when there
// are as many faults as kinds, the leader SIGKILLs the profile asks for, the rest at
// random; times, targets and durations at random. The same profile gives the same plan.
func planFaults(p profile) faultPlan {
	rng := rand.New(rand.NewPCG(uint64(p.seed), 0x6661756c74)) // "fault"
	var kinds []faultKind
	for range p.minLeaderKill {
		kinds = append(kinds, faultKillLeader)
	}
	if p.faults >= len(p.kinds) {
		for _, k := range p.kinds {
			if !slices.Contains(kinds, k) {
				kinds = append(kinds, k)
			}
		}
	}
	for len(kinds) < p.faults {
		kinds = append(kinds, p.kinds[rng.IntN(len(p.kinds))])
	}
	kinds = kinds[:p.faults]
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })

	plan := make(faultPlan, 0, len(kinds))
	at := time.Duration(0)
	for _, k := range kinds {
		at += p.pace/2 + randDur(rng, p.pace)
		f := fault{at: at, kind: k, agent: rng.IntN(p.agents), lasts: 2*time.Second + randDur(rng, 10*time.Second),
			delay: 200*time.Millisecond + randDur(rng, 2800*time.Millisecond), n: 1 + rng.IntN(3), processed: rng.IntN(2) == 0,
			rate: 0.1 + 0.2*rng.Float64(), tenure: randDur(rng, 2*p.pace)}
		switch k {
		case faultMasterDown, faultZKLeader:
			f.lasts = time.Second + randDur(rng, 5*time.Second)
		case faultSlowWrites:
			f.delay /= 2 // at most 1.5s: a write held longer than the lease's renewal allows makes the leader step down
		case faultRestartAPI:
			f.lasts = apiServerDown(rng)
		case faultLateAgentNew:
			// Past the killed leader's Lease (6 s as deployed) and the next leader's wait
			// for its reconciliation, which the agent's tasks hold up (5 s at most), so
			// that it looks at the tasks Mesos holds while the agent is away.
			f.lasts += 15 * time.Second
		case faultPartition, faultLateAgent, faultDuplicate, faultDelay, faultAPIErrors, faultReadErrors, faultBreakWatches, faultStaleReads,
			faultMaintenance:
		default:
			f.lasts = 0
		}
		plan = append(plan, f)
	}
	return plan
}

// faultLog counts the faults injected, by kind.
type faultLog struct {
	mu     sync.Mutex
	byKind map[faultKind]int
	total  int
}

func (l *faultLog) add(k faultKind) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byKind == nil {
		l.byKind = map[faultKind]int{}
	}
	l.byKind[k]++
	l.total++
}

func (l *faultLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

func (l *faultLog) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var parts []string
	for k, n := range l.byKind {
		parts = append(parts, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// runFaults injects the plan's faults, each the planned gap after the one before was
// injected (a manager fault waits for a leader first); a fault whose target is taken by
// a lasting fault waits for it (agents: the next free agent is taken instead). Then the
// last lasting fault runs its course. afterFirst, when set, runs once the first fault
// was injected or skipped (teardown: the cluster is deleted then).
func (r *run) runFaults(plan faultPlan, afterFirst func()) {
	start := time.Now()
	var prev time.Duration
	for i, f := range plan {
		time.Sleep(f.at - prev) // pacing, not an assertion
		prev = f.at
		if err := r.inject(f); errors.Is(err, errNoTarget) {
			r.t.Logf("fault %s skipped: %v", f, err)
		} else if err != nil {
			r.runError("fault %s: %v", f, err)
		} else {
			r.faults.add(f.kind)
		}
		if i == 0 && afterFirst != nil {
			afterFirst()
		}
	}
	if len(plan) > 0 {
		last := plan[len(plan)-1]
		time.Sleep(last.lasts) // the last lasting fault runs its course
	}
	r.t.Logf("%d faults took %s (planned %s: manager faults wait for a leader)", len(plan), time.Since(start).Round(time.Second), plan.duration().Round(time.Second))
}

// errNoTarget is a fault that finds nothing to hit (no executor runs yet): skipped.
var errNoTarget = errors.New("nothing to hit")

func (r *run) waitFree(res string) {
	// pacing: the fault waits for the one before to have ended
	for t := r.ends.busyUntil(res); t.After(time.Now()); t = r.ends.busyUntil(res) {
		time.Sleep(time.Until(t))
	}
}

// freeAgent is the planned agent, or the next one no lasting fault holds.
func (r *run) freeAgent(i int) string {
	for k := range r.p.agents {
		h := fmt.Sprintf("agent-%d", (i+k)%r.p.agents+1)
		if r.ends.busyUntil(h).Before(time.Now()) {
			return h
		}
	}
	return ""
}

// inject fires one fault.
func (r *run) inject(f fault) error {
	r.t.Logf("fault %s", f)
	switch f.kind {
	case faultKillLeader:
		return r.mgrs.disruptLeader(syscall.SIGKILL, f.tenure)
	case faultTermLeader:
		return r.mgrs.disruptLeader(syscall.SIGTERM, f.tenure)
	case faultFailoverMaster:
		r.waitFree("master")
		r.sim.FailoverMaster()
	case faultLateAgent:
		return r.failoverWithLateAgent(f)
	case faultLateAgentNew:
		if err := r.failoverWithLateAgent(f); err != nil {
			return err
		}
		return r.mgrs.disruptLeader(syscall.SIGKILL, 0)
	case faultMasterDown:
		r.waitFree("master")
		r.sim.SetDown(true)
		r.ends.schedule("master", f.lasts, func() { r.sim.SetDown(false) })
	case faultZKLeader:
		r.waitFree("master")
		return r.changeZKLeader(f.lasts)
	case faultPartition:
		h := r.freeAgent(f.agent)
		if h == "" {
			return fmt.Errorf("no agent free: %w", errNoTarget)
		}
		if err := r.sim.PartitionAgent(h); err != nil {
			return err
		}
		r.ends.schedule(h, f.lasts, func() {
			if err := r.sim.HealAgent(h); err != nil {
				r.runError("healing %s: %v", h, err)
			}
		})
	case faultRestartAgent:
		h := r.freeAgent(f.agent)
		if h == "" {
			return fmt.Errorf("no agent free: %w", errNoTarget)
		}
		if err := r.sim.RestartAgent(h); err != nil {
			return err
		}
		r.ends.schedule(h, 3*time.Second, func() {}) // not partitioned while it restarts and recovers
	case faultRemoveAgent:
		return r.removeAgent(f.agent)
	case faultMaintenance:
		return r.scheduleMaintenance(f.agent, f.lasts)
	case faultDropStream:
		for _, fw := range r.sim.State().Frameworks {
			r.sim.DropStream(fw.ID)
		}
	case faultDuplicate:
		r.waitFree("duplicate")
		r.sim.DuplicateUpdates(true)
		r.ends.schedule("duplicate", f.lasts, func() { r.sim.DuplicateUpdates(false) })
	case faultDelay:
		r.waitFree("delay")
		r.sim.DelayUpdates(f.delay)
		r.ends.schedule("delay", f.lasts, func() { r.sim.DelayUpdates(0) })
	case faultFailAccepts:
		r.sim.FailAccepts(f.n, f.processed)
	case faultSlowWrites:
		r.waitFree("slow-writes")
		r.proxy.setSlow(f.delay)
		r.ends.schedule("slow-writes", f.lasts, func() { r.proxy.setSlow(0) })
	case faultKillExecutor:
		return r.killExecutor(f.agent)
	case faultUpgradeExec:
		return r.upgradeExecutor()
	case faultRestartAPI:
		return r.restartAPIServer(f.lasts)
	case faultLoseRecords:
		return r.mgrs.killAll(r.deleteMesosTasks)
	case faultAPIErrors:
		r.waitFree("api-errors")
		r.proxy.setErrors(f.rate)
		r.ends.schedule("api-errors", f.lasts, func() { r.proxy.setErrors(0) })
	case faultReadErrors:
		r.waitFree("read-errors")
		r.proxy.setReadErrors(f.rate)
		r.ends.schedule("read-errors", f.lasts, func() { r.proxy.setReadErrors(0) })
	case faultBreakWatches:
		r.waitFree("watches")
		r.t.Logf("ended %d watches", r.proxy.breakWatches(f.rate))
		r.ends.schedule("watches", f.lasts, func() { r.proxy.setExpired(0) })
	case faultStaleReads:
		r.waitFree("stale-reads")
		r.proxy.setLag(f.delay)
		r.ends.schedule("stale-reads", f.lasts, func() { r.proxy.setLag(0) })
	default:
		return fmt.Errorf("unknown fault kind %q", f.kind)
	}
	return nil
}

// failoverWithLateAgent fails the master over with one agent registering again only
// f.lasts later, as an agent does that is slow to notice the new master: until then its
// tasks are unknown to the master, which answers nothing about them and offers none of
// its resources. The agent is left alone by other faults meanwhile.
func (r *run) failoverWithLateAgent(f fault) error {
	r.waitFree("master")
	h := r.freeAgent(f.agent)
	if h == "" {
		return fmt.Errorf("no agent free: %w", errNoTarget)
	}
	if err := r.sim.DelayReregistration(f.lasts, h); err != nil {
		return err
	}
	r.sim.FailoverMaster()
	// For this failover only: the wait it started keeps its length.
	if err := r.sim.DelayReregistration(0, h); err != nil {
		return err
	}
	r.ends.schedule(h, f.lasts, func() {})
	return nil
}

// removeAgent marks the planned agent, or the next one no lasting fault holds, gone for
// good, as an operator does with an agent that is not coming back (POST
// /api/v1 MARK_AGENT_GONE): its tasks end TASK_GONE_BY_OPERATOR and their pods Failed,
// for their controllers to make again elsewhere. A quarter of the agents at most go, so
// that the others have room for them; no other fault takes a removed agent.
func (r *run) removeAgent(agent int) error {
	r.mu.Lock()
	removed := len(r.removedNodes)
	r.mu.Unlock()
	if removed >= r.p.agents/4 {
		return fmt.Errorf("%d of %d agents removed already: %w", removed, r.p.agents, errNoTarget)
	}
	h := r.freeAgent(agent)
	if h == "" {
		return fmt.Errorf("no agent free: %w", errNoTarget)
	}
	if err := r.sim.RemoveAgent(h); err != nil {
		return err
	}
	r.t.Logf("removed %s for good", h)
	r.mu.Lock()
	if r.removedNodes == nil {
		r.removedNodes = map[string]bool{}
	}
	r.removedNodes[agentnode.NodeName(clusterName, h, 0)] = true
	r.mu.Unlock()
	r.ends.schedule(h, 24*time.Hour, func() {}) // for good: ended by quiesce, when no fault comes any more
	return nil
}

// deleteMesosTasks deletes every MesosTask, its finalizer taken off first, as if none
// were kept in etcd (docs/mesostask-served.md, step 2): what a manager then finds is the
// pods, the Nodes and Mesos.
func (r *run) deleteMesosTasks() error {
	var list mesosv1alpha1.MesosTaskList
	if err := apiRetry(func() error { return r.listTasks(context.Background(), &list) }); err != nil {
		return err
	}
	for i := range list.Items {
		mt := &list.Items[i]
		patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))
		if err := apiRetry(func() error {
			return client.IgnoreNotFound(r.load.Patch(context.Background(), mt, patch))
		}); err != nil {
			return err
		}
		if err := apiRetry(func() error { return client.IgnoreNotFound(r.load.Delete(context.Background(), mt)) }); err != nil {
			return err
		}
	}
	r.t.Logf("deleted %d MesosTasks while no manager ran", len(list.Items))
	return nil
}

// killExecutor kills the k8sm executor of the planned agent, or of the next agent that
// runs one and no lasting fault holds.
func (r *run) killExecutor(agent int) error {
	mc := &mesosv1alpha1.MesosCluster{}
	if err := apiRetry(func() error { return r.direct.Get(context.Background(), client.ObjectKey{Name: clusterName}, mc) }); err != nil {
		return err
	}
	for k := range r.p.agents {
		h := fmt.Sprintf("agent-%d", (agent+k)%r.p.agents+1)
		if r.ends.busyUntil(h).After(time.Now()) {
			continue
		}
		for _, fw := range r.sim.State().Frameworks {
			if r.sim.KillExecutor(h, fw.ID, mc.Status.ExecutorID) == nil {
				r.t.Logf("killed executor %s of framework %s on %s", mc.Status.ExecutorID, fw.ID, h)
				return nil
			}
		}
	}
	return fmt.Errorf("no agent runs executor %q: %w", mc.Status.ExecutorID, errNoTarget)
}

// upgradeExecutor changes the MesosCluster's spec.executor.uri to a new version, as an
// upgrade of the operator does: the pods launched from then on start the new executor
// beside the old one on each agent, and the old one runs on with the pods it has. With
// real executors the new version is a copy of the executor binary; simulated tasks
// start none.
func (r *run) upgradeExecutor() error {
	r.mu.Lock()
	r.executorVersion++
	v := r.executorVersion
	r.mu.Unlock()
	uri := fmt.Sprintf("/k8sm-executor-v%d/k8sm-executor", v)
	if r.p.exec {
		uri = filepath.Join(r.logDir, fmt.Sprintf("executor-v%d", v), "k8sm-executor")
		if err := copyExecutable(r.executorBin, uri); err != nil {
			return err
		}
	}
	patch := client.RawPatch(types.MergePatchType, []byte(fmt.Sprintf(`{"spec":{"executor":{"uri":%q}}}`, uri)))
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: clusterName}}
	if err := apiRetry(func() error { return r.load.Patch(context.Background(), mc, patch) }); err != nil {
		return err
	}
	r.t.Logf("executor now %s (%s)", uri, podtask.ExecutorID(mc))
	return nil
}

// copyExecutable copies the file at from to to, executable, making to's directory.
func copyExecutable(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o755)
}

// quiesce ends every fault: agents healed, the master up, updates as usual, no ACCEPT
// failing; the managers keep running as they are.
func (r *run) quiesce() {
	r.ends.endAll()
	r.api.waitUp() // a restart whose start began before endAll
	r.sim.FailAccepts(0, false)
	r.t.Logf("faults stopped after %d", r.faults.count())
}
