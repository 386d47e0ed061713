// Command bench measures k8sm end to end: a local kube-apiserver, mesos-sim with N
// simulated agents and the manager binary; it creates M pods and reports pods/s from
// create to Running, create→Running latency percentiles, and the manager's CPU seconds
// and peak RSS. Beside it, kube-scheduler binds the same M pods to N Nodes, so the report
// gives k8sm's throughput as a ratio to kube-scheduler's. Run it with make bench.
package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/installer"
	"github.com/k8sm/k8sm/internal/mesossim"
	"github.com/k8sm/k8sm/internal/testenv"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == kubeletsCommand {
		if err := runKubelets(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench kubelets:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type result struct {
	name      string
	pods      int
	elapsed   time.Duration
	latencies []time.Duration
	// toBound: pods count as done when bound (kube-scheduler alone), else when Running.
	toBound bool
	// simInProcess: mesos-sim ran in this process, so benchCPU includes it.
	simInProcess bool
	// bound is each pod's create→bound latency, for k8sm (whose latencies run to Running).
	bound  []time.Duration
	cpu    time.Duration
	rssKiB int64
	// apiCPU is kube-apiserver's and etcd's CPU time during the run.
	apiCPU controlPlaneCPU
	// benchCPU is this program's CPU time during the run: the load generator and its
	// watch, and for k8sm mesos-sim with its agents, which run in this process.
	benchCPU time.Duration
	// kubeletCPU is the CPU time of a peer's kubelets (kubeletProcess) during the run.
	kubeletCPU time.Duration
	// requests counts the API requests but watches, by verb and resource.
	requests map[string]float64
	// mesos counts the offers mesos-sim sent and the calls it got, by type.
	mesos map[string]float64
	// failovers are the times k8sm took to come back from faults after the run.
	failovers []failover
	// recordsAfter is how long after the last pod was Running every pod's MesosTask was
	// written (k8sm defers their creates in a burst: internal/scheduler/records.go).
	// The CPU times and request counts run to then, so they include those writes.
	recordsAfter time.Duration
	// unschedulable counts the pods the watch saw marked PodScheduled=False, by the
	// condition's message: in a burst over agents with room to spare there should be none.
	unschedulable map[string]int
}

func (r result) rate() float64 { return float64(r.pods) / r.elapsed.Seconds() }

// doneAs is what a pod of the run is measured to: Running, or bound.
func (r result) doneAs() string {
	if r.toBound {
		return "bound"
	}
	return "Running"
}

func (r result) pct(p float64) time.Duration { return pct(r.latencies, p) }

// pct is the p-quantile of sorted latencies.
func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

var (
	rate        float64
	cpuProfile  string
	heapProfile string
	apiProfile  string
	// peerAPIProfile: kube-apiserver's CPU profile beside kube-scheduler with a
	// kubelet's least writes.
	peerAPIProfile string
	profileFor     time.Duration
	skipFailover   bool
	// failoverProfile: the standby's CPU profile from the leader's kill on.
	failoverProfile string
	// managerArgs are more arguments for the managers.
	managerArgs string
	// offerHold is the bench cluster's offerHoldSeconds; -1 leaves the default.
	offerHold int32 = -1
	// tasksInMemory runs the manager with the MesosTasks in its memory
	// (--mesostask-storage=memory, config/tasks-in-memory's RBAC).
	tasksInMemory bool
)

func run() error {
	agents := flag.Int("agents", 100, "Simulated agents (and Nodes for kube-scheduler).")
	pods := flag.Int("pods", 2000, "Pods to create.")
	creators := flag.Int("creators", 16, "Pods created in parallel.")
	bin := flag.String("bin", "bin", "Directory with the manager binary.")
	skipKS := flag.Bool("skip-kube-scheduler", false, "Do not run the kube-scheduler comparison.")
	skipKubelets := flag.Bool("skip-kubelet-writes", false, "Do not run kube-scheduler again with a kubelet's least writes for each pod it binds.")
	skipAsKubelet := flag.Bool("skip-kubelet-requests", false, "Do not run kube-scheduler again with, for each pod it binds, the requests a kubelet 1.37 makes to start it.")
	timeout := flag.Duration("timeout", 10*time.Minute, "Give up after this long.")
	ksTimeout := flag.Duration("kube-scheduler-timeout", 10*time.Minute, "Give up on kube-scheduler after this long (with a kubelet's writes it takes about as long as k8sm: at 1,000 × 10,000 on a slow day, more than 3 minutes).")
	flag.Float64Var(&rate, "rate", 0, "Create pods at this many per second (0: as fast as the creators can), to measure latency at a sustained load.")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "Write a CPU profile of the manager during the run to this file.")
	flag.StringVar(&heapProfile, "heapprofile", "", "Write the manager's heap profile, taken when every pod of the burst is Running and every MesosTask written, to this file.")
	flag.StringVar(&apiProfile, "apiserver-cpuprofile", "", "Write a CPU profile of kube-apiserver during the k8sm run to this file.")
	flag.StringVar(&peerAPIProfile, "peer-apiserver-cpuprofile", "", "Write a CPU profile of kube-apiserver during the run of kube-scheduler with a kubelet's least writes to this file (against -apiserver-cpuprofile: go tool pprof -diff_base=<this> <that>).")
	flag.BoolVar(&tasksInMemory, "mesostasks-in-memory", false, "Run the manager as config/tasks-in-memory installs it: the MesosTasks in its memory, served by it, none written to the API server.")
	flag.StringVar(&managerArgs, "manager-args", "", "More arguments for the manager, separated by spaces (e.g. \"--leader-election-lease-duration=15s\").")
	flag.Func("offer-hold-seconds", "The bench cluster's spec.placement.offerHoldSeconds (default: the cluster's default).", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		offerHold = int32(n)
		return err
	})
	skipWriteCosts := flag.Bool("skip-write-costs", false, "Do not price, after the burst, each kind of write a pod costs k8sm and its peers in kube-apiserver and etcd CPU.")
	skipSteady := flag.Bool("skip-steady", false, "Do not search, after the burst, for the highest steady rate whose p99 create→Running stays under 1 s.")
	flag.BoolVar(&skipFailover, "skip-failover", false, "Do not time a failover of the manager (SIGKILL of the leader) and of the master after the k8sm run.")
	runs := flag.Int("runs", 1, "Take the burst this many times, k8sm and its peers in turn each time, and print the medians and each round's ratio (a shared machine's speed varies between runs minutes apart).")
	flag.StringVar(&failoverProfile, "failover-cpuprofile", "", "Write a CPU profile of the standby manager, for -profile-duration from the leader's kill -9, to this file.")
	flag.DurationVar(&profileFor, "profile-duration", 20*time.Second, "How long the manager's CPU profile covers, from the first pod.")
	flag.Parse()
	logf.SetLogger(logr.Discard())

	if _, err := testenv.AssetsDir(); err != nil {
		return err
	}
	pace := "as fast as they can"
	if rate > 0 {
		pace = fmt.Sprintf("at %.0f pods/s", rate)
	}
	if *runs < 1 {
		return fmt.Errorf("-runs %d: at least one", *runs)
	}
	fmt.Printf("bench: %d agents, %d pods, %d creators %s\n", *agents, *pods, *creators, pace)
	var rounds []round
	for i := range *runs {
		if *runs > 1 {
			fmt.Printf("\n=== round %d of %d\n", i+1, *runs)
		}
		r, err := burstRound(*bin, *agents, *pods, *creators, *timeout, *ksTimeout, *skipKS, *skipKubelets, *skipAsKubelet)
		if err != nil {
			return err
		}
		rounds = append(rounds, r)
		// Profiles and failovers once, in the first round.
		cpuProfile, heapProfile, apiProfile, peerAPIProfile, skipFailover = "", "", "", "", true
	}
	if len(rounds) > 1 {
		summarize(rounds)
	}
	printTargets(rounds)
	if !*skipWriteCosts {
		n := min(*pods, 2000)
		costs, err := measureWriteCosts(n, *creators)
		if err != nil {
			return fmt.Errorf("pricing the writes: %w", err)
		}
		reportWriteCosts(costs, n, *creators)
	}
	if !*skipSteady && rate == 0 {
		searchSteadyRate(*bin, *agents, min(*pods, 1000), *creators, *timeout)
	}
	return nil
}

// round is one burst of k8sm and of its peers, taken in turn.
type round struct {
	ours, theirs, withKubelets, asKubelets result
}

// burstRound runs the burst through k8sm, then kube-scheduler alone, with a kubelet's
// least writes and with a kubelet's requests (each unless skipped), reports each, and the
// ratios.
func burstRound(bin string, agents, pods, creators int, timeout, ksTimeout time.Duration, skipKS, skipKubelets, skipAsKubelet bool) (round, error) {
	var r round
	var err error
	if r.ours, err = runK8sm(bin, agents, pods, creators, timeout); err != nil {
		return r, err
	}
	report(r.ours)
	if skipKS {
		return r, nil
	}
	// Where testenv finds it: beside kube-apiserver, or in bin/k8s/<version>, where make
	// bench builds it (setup-envtest's directory may not be written to).
	ks, err := testenv.ComponentBinary("kube-scheduler")
	if err != nil {
		fmt.Printf("\nkube-scheduler: %v; no ratio\n", err)
		return r, nil
	}
	if r.theirs, err = runKubeScheduler(ks, agents, pods, creators, ksTimeout, noKubelets); err != nil {
		fmt.Printf("\nkube-scheduler: %v; no ratio\n", err)
		return r, nil
	}
	report(r.theirs)
	if !skipKubelets {
		if r.withKubelets, err = runKubeScheduler(ks, agents, pods, creators, ksTimeout, leastWrites); err != nil {
			fmt.Printf("\nkube-scheduler with a kubelet's writes: %v\n", err)
		} else {
			report(r.withKubelets)
		}
	}
	if !skipAsKubelet {
		if r.asKubelets, err = runKubeScheduler(ks, agents, pods, creators, ksTimeout, asKubelet); err != nil {
			fmt.Printf("\nkube-scheduler with a kubelet's requests: %v\n", err)
		} else {
			report(r.asKubelets)
		}
	}
	if rate > 0 {
		fmt.Println("\nno ratio: both ran at the -rate given; it measures throughput only when pods are created as fast as possible")
		return r, nil
	}
	fmt.Printf("\nratio (k8sm pods/s to Running ÷ kube-scheduler pods/s to bound): %.2f\n", r.ours.rate()/r.theirs.rate())
	if r.withKubelets.elapsed > 0 {
		fmt.Printf("beside kube-scheduler + a kubelet's writes, to Running: %.2f\n", r.ours.rate()/r.withKubelets.rate())
	}
	if r.asKubelets.elapsed > 0 {
		fmt.Printf("beside kube-scheduler + a kubelet's requests, to Running: %.2f\n", r.ours.rate()/r.asKubelets.rate())
	}
	return r, nil
}

func report(r result) {
	fmt.Printf("\n%s\n  pods: %d in %s: %.1f pods/s\n  create→%s latency: p50 %s  p90 %s  p99 %s\n",
		r.name, r.pods, r.elapsed.Round(time.Millisecond), r.rate(), r.doneAs(),
		r.pct(0.5).Round(time.Millisecond), r.pct(0.9).Round(time.Millisecond), r.pct(0.99).Round(time.Millisecond))
	if len(r.bound) > 0 {
		fmt.Printf("  create→bound latency: p50 %s  p90 %s  p99 %s\n",
			pct(r.bound, 0.5).Round(time.Millisecond), pct(r.bound, 0.9).Round(time.Millisecond), pct(r.bound, 0.99).Round(time.Millisecond))
	}
	if len(r.unschedulable) > 0 {
		fmt.Printf("  marked unschedulable on the way:")
		for _, m := range slices.Sorted(maps.Keys(r.unschedulable)) {
			fmt.Printf("  %d pods %q", r.unschedulable[m], m)
		}
		fmt.Println()
	}
	if r.recordsAfter > 0 {
		fmt.Printf("  MesosTasks: every one written %s after the last pod was Running (CPU and requests below count them)\n", r.recordsAfter.Round(time.Millisecond))
	}
	if r.cpu > 0 {
		fmt.Printf("  process CPU: %.2fs  peak RSS: %d MiB  kube-apiserver+etcd CPU: %s  bench (load, watch%s) CPU: %.2fs\n",
			r.cpu.Seconds(), r.rssKiB/1024, r.apiCPU, map[bool]string{true: ", mesos-sim", false: ""}[r.simInProcess], r.benchCPU.Seconds())
	}
	if r.kubeletCPU > 0 {
		fmt.Printf("  the kubelets' CPU (their writes, watch and Leases, in a process of their own): %.2fs, %.1f ms per pod\n",
			r.kubeletCPU.Seconds(), perPod(r.kubeletCPU, r.pods))
	}
	if len(r.requests) > 0 {
		var total float64
		for _, v := range r.requests {
			total += v
		}
		fmt.Printf("  API requests (but watches): %.1f per pod:", total/float64(r.pods))
		printPerPod(r.requests, r.pods)
	}
	if len(r.mesos) > 0 {
		fmt.Printf("  Mesos master, per pod:")
		printPerPod(r.mesos, r.pods)
	}
	if len(r.failovers) > 0 {
		fmt.Printf("  failover with %d tasks running, from the fault:\n", r.pods)
		for _, f := range r.failovers {
			fmt.Printf("    %s\n", f)
		}
	}
}

func newClient(cfg *rest.Config) (client.WithWatch, error) {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = mesosv1alpha1.AddToScheme(scheme)
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 1000, 2000
	return client.NewWithWatch(cfg, client.Options{Scheme: scheme})
}

// newProtobufClientset is a clientset that sends and asks for protobuf, as kubelets and
// the manager do for Kubernetes's own kinds.
func newProtobufClientset(cfg *rest.Config) (*kubernetes.Clientset, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf
	cfg.QPS, cfg.Burst = 1000, 2000
	return kubernetes.NewForConfig(cfg)
}

// startEnv starts kube-apiserver and etcd and writes an admin kubeconfig; stop stops
// them and removes the kubeconfig.
func startEnv() (env *envtest.Environment, kubeconfig string, stop func(), err error) {
	env, err = testenv.Start()
	if err != nil {
		return nil, "", nil, err
	}
	user, err := env.AddUser(envtest.User{Name: "bench-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		_ = env.Stop()
		return nil, "", nil, err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		_ = env.Stop()
		return nil, "", nil, err
	}
	f, err := os.CreateTemp("", "bench-kubeconfig-")
	if err != nil {
		_ = env.Stop()
		return nil, "", nil, err
	}
	_, _ = f.Write(kc)
	_ = f.Close()
	return env, f.Name(), func() { _ = env.Stop(); _ = os.Remove(f.Name()) }, nil
}

// runK8sm measures k8sm: the manager and mesos-sim's simulated agents start the pods,
// as deployed, with the manager's own ServiceAccount.
func runK8sm(bin string, agents, pods, creators int, timeout time.Duration) (result, error) {
	res := result{name: k8smName(), pods: pods, simInProcess: true}
	env, _, stopEnv, err := startEnv()
	if err != nil {
		return res, err
	}
	defer stopEnv()
	c, err := newClient(env.Config)
	if err != nil {
		return res, err
	}
	kubeconfig, err := operatorKubeconfig(context.Background(), env.Config)
	if err != nil {
		return res, fmt.Errorf("the manager's ServiceAccount: %w", err)
	}
	defer func() { _ = os.Remove(kubeconfig) }()
	subs := make(subscriptions, 16)
	traffic := newMesosTraffic()
	sim, err := startSim(agents, traffic.observe(subs.observer()))
	if err != nil {
		return res, err
	}
	defer sim.Close()
	replicaPods = c // the managers' pods, with the MesosTasks in memory
	mgr, err := startManager(bin, kubeconfig, !skipFailover, cpuProfile != "" || heapProfile != "")
	if err != nil {
		return res, err
	}
	defer func() { mgr.stop() }()

	ctx := context.Background()
	if err := createBenchCluster(ctx, c, sim.URL(), agents, mgr.log.Name()); err != nil {
		return res, err
	}
	// As deployed: the API server gives the pods their outage tolerations as they are
	// created (config/admission), so the manager does not write them.
	failover := int64(mesosv1alpha1.DefaultFailoverTimeout.Seconds())
	if err := testenv.InstallAdmissionPolicies(ctx, env.Config, installer.OutageTolerationsApplied(c, "default", "mesos", failover)); err != nil {
		return res, fmt.Errorf("installing the admission policies: %w", err)
	}
	waitProfiles := startProfiles(ctx, env.Config, mgr.pprofAddr)
	cpu0, api0, self0 := procCPU(mgr.cmd.Process.Pid), readControlPlaneCPU(), procCPU(os.Getpid())
	requests0, _ := apiRequests(ctx, env.Config)
	mesos0 := traffic.snapshot()
	notScheduled := unschedulablePods{}
	res.elapsed, res.latencies, res.bound, err = createAndWait(c, pods, creators, func(i int) *corev1.Pod { return burstPod(i, "mesos") },
		isRunning, notScheduled.observe, timeout)
	res.unschedulable = notScheduled.byMessage()
	if err != nil {
		return res, fmt.Errorf("%w (manager log: %s)", err, mgr.log.Name())
	}
	allRunning := time.Now()
	wait := waitForMesosTasks
	if tasksInMemory {
		wait = waitForTasksCounted
	}
	if err := wait(ctx, c, pods, timeout); err != nil {
		return res, fmt.Errorf("%w (manager log: %s)", err, mgr.log.Name())
	}
	res.recordsAfter = max(time.Since(allRunning), time.Millisecond)
	res.cpu, res.apiCPU, res.benchCPU = procCPU(mgr.cmd.Process.Pid)-cpu0, readControlPlaneCPU().sub(api0), procCPU(os.Getpid())-self0
	res.mesos = diffCounts(mesos0, traffic.snapshot())
	if heapProfile != "" && mgr.pprofAddr != "" {
		if err := fetchTo("http://"+mgr.pprofAddr+"/debug/pprof/heap", heapProfile); err != nil {
			fmt.Printf("bench: no heap profile: %v\n", err)
		} else {
			fmt.Printf("bench: the manager's heap profile is in %s (go tool pprof %s)\n", heapProfile, heapProfile)
		}
	}
	if requests1, err := apiRequests(ctx, env.Config); err == nil {
		res.requests = diffCounts(requests0, requests1)
	}
	waitProfiles()
	res.rssKiB = peakRSS(mgr.cmd.Process.Pid)
	if !skipFailover {
		leader := mgr
		res.failovers, mgr = measureFailovers(ctx, c, bin, kubeconfig, sim, subs, leader)
		if mgr != leader {
			leader.stop()
		}
	}
	return res, nil
}

// startSim starts mesos-sim in this process with agents big enough for every pod. It
// offers often, so the bench measures k8sm rather than the wait for offers.
func startSim(agents int, observer *mesossim.Observer) (*mesossim.Master, error) {
	sim, err := mesossim.New(mesossim.Config{Agents: agents, AgentResources: "cpus:64;mem:262144;disk:100000",
		HeartbeatInterval: 5 * time.Second, AllocationInterval: 100 * time.Millisecond, Observer: observer})
	if err != nil {
		return nil, err
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return sim, nil
}

// createBenchCluster creates the MesosCluster "bench" on master and waits for it, so
// the run times pods only. RefuseSeconds 0 gets declined offers back at once; offers are
// held for offerHold seconds (-1: the cluster's default).
func createBenchCluster(ctx context.Context, c client.Client, master string, agents int, managerLog string) error {
	zero := int32(0)
	placement := mesosv1alpha1.PlacementSpec{RefuseSeconds: &zero}
	if offerHold >= 0 {
		placement.OfferHoldSeconds = &offerHold
	}
	if err := c.Create(ctx, &mesosv1alpha1.MesosCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Spec: mesosv1alpha1.MesosClusterSpec{Master: master, Executor: mesosv1alpha1.ExecutorSpec{URI: "/k8sm-executor"},
			Placement: placement},
	}); err != nil {
		return err
	}
	// Wait until the framework is subscribed and every agent is a Node with its Lease, so
	// that the run does not pay for making them.
	deadline := time.Now().Add(time.Minute)
	for {
		mc := &mesosv1alpha1.MesosCluster{}
		var nodes corev1.NodeList
		var leases coordinationv1.LeaseList
		if err := c.Get(ctx, client.ObjectKey{Name: "bench"}, mc); err == nil && int(mc.Status.Agents) == agents &&
			c.List(ctx, &nodes, client.MatchingLabels{agentnode.LabelCluster: "bench"}) == nil && len(nodes.Items) == agents &&
			c.List(ctx, &leases, client.InNamespace(corev1.NamespaceNodeLease)) == nil && len(leases.Items) >= agents {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the cluster did not see its %d agents within a minute (manager log: %s)", agents, managerLog)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startProfiles starts the CPU profiles that -cpuprofile (of the manager, served at
// pprofAddr) and -apiserver-cpuprofile ask for, from now on. The returned func waits
// for them and says where they are.
func startProfiles(ctx context.Context, cfg *rest.Config, pprofAddr string) (wait func()) {
	api := takeProfile("kube-apiserver's CPU profile", apiProfile, func() error {
		return apiserverProfile(ctx, cfg, profileFor, apiProfile)
	})
	manager := func() {}
	if pprofAddr != "" {
		manager = takeProfile("the manager's CPU profile", cpuProfile, func() error {
			return fetchTo(pprofURL(pprofAddr, profileFor), cpuProfile)
		})
	}
	return func() { api(); manager() }
}

// startPeerProfile starts the CPU profile of kube-apiserver that
// -peer-apiserver-cpuprofile asks for, from now on; the returned func waits for it.
func startPeerProfile(ctx context.Context, cfg *rest.Config) (wait func()) {
	return takeProfile("kube-apiserver's CPU profile beside the kubelet's writes", peerAPIProfile, func() error {
		return apiserverProfile(ctx, cfg, profileFor, peerAPIProfile)
	})
}

// takeProfile starts take, which writes a profile to file, unless file is empty. The
// returned func waits for it and says where the profile is, or why there is none.
func takeProfile(what, file string, take func() error) (wait func()) {
	if file == "" {
		return func() {}
	}
	done := make(chan error, 1)
	go func() { done <- take() }()
	return func() {
		if err := <-done; err != nil {
			fmt.Printf("bench: no %s: %v\n", what, err)
		} else {
			fmt.Printf("bench: %s is in %s (go tool pprof %s)\n", what, file, file)
		}
	}
}

// procCPU is a process's user+system CPU time from /proc.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// peakRSS is a process's VmHWM in KiB.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb
		}
	}
	return 0
}
