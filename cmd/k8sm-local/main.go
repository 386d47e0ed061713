// Command k8sm-local runs k8sm on one machine, on loopback only: a local kube-apiserver
// and etcd, a simulated Mesos (or a Mesos master you name), the manager and the
// executor; it applies a MesosCluster and a pod and shows them running. Ctrl-C stops
// everything it started.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/localmetrics"
	"github.com/k8sm/k8sm/internal/mesossim"
	"github.com/k8sm/k8sm/internal/pki"
	"github.com/k8sm/k8sm/internal/podtask"
)

type options struct {
	dir       string
	master    string
	agents    int
	simListen string
	once      bool
	timeout   time.Duration
	executor  string
	manager   string
	crds      string
	install   string
	samples   string
	assets    string
	// metricsServer is the metrics-server binary, or "" for none.
	metricsServer string
	// kubectl is the kubectl binary, or "" for none.
	kubectl string
	// tasksAPI has the manager serve the MesosTasks API, tasksInMemory with the
	// MesosTasks in its memory alone (tasksapi.go).
	tasksAPI, tasksInMemory bool
}

func main() {
	if len(os.Args) < 2 || os.Args[1] != "up" {
		fmt.Fprintln(os.Stderr, "usage: k8sm-local up [flags]   (k8sm-local up -h for the flags)")
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h: the flags were printed, as asked
		}
		fmt.Fprintln(os.Stderr, "k8sm-local:", err)
		if errors.Is(err, errStopped) {
			os.Exit(130) // as a shell reports a command ended by Ctrl-C
		}
		os.Exit(1)
	}
}

func say(format string, a ...any) { fmt.Printf("==> "+format+"\n", a...) }

// run is `k8sm-local up`. It starts each part, then applies the samples and waits for
// the pod; its defers stop everything it started in reverse, the MesosCluster first.
func run(args []string) error {
	o, dir, err := prepare(args)
	if err != nil {
		return err
	}
	executorPath, _ := filepath.Abs(o.executor)

	ctx, stop := interrupts()
	defer stop()

	env, kubeletCA, err := startAPIServer(o, dir)
	if err != nil {
		return err
	}
	defer func() { say("Stopping kube-apiserver and etcd"); _ = env.Stop() }()
	// etcd's data (64 MB of preallocated log) and the API server's certificates, in
	// temporary directories that only Stop removes.
	forced.add(func() { removeDirs(env.ControlPlane.Etcd.DataDir, env.ControlPlane.APIServer.CertDir) })
	kubeconfigPath, err := writeKubeconfig(env, dir)
	if err != nil {
		return err
	}
	ms, err := startMetricsServer(ctx, o, env, dir)
	if err != nil {
		return err
	}
	defer ms.stop()

	master, closeSim, err := mesosMaster(o, dir)
	if err != nil {
		return err
	}
	defer closeSim()

	c, err := newClient(env)
	if err != nil {
		return err
	}
	managerArgs, err := registerTasksAPI(ctx, o, env, c)
	if err != nil {
		return err
	}
	mgr, err := startManager(o.manager, dir, kubeconfigPath, managerArgs...)
	if err != nil {
		return err
	}
	defer mgr.stop()

	mc, pod, err := readSamples(o.samples)
	if err != nil {
		return err
	}
	if err := trustKubeletClient(ctx, c, kubeletCA); err != nil {
		return err
	}
	mc.Spec.KubeletAPI.ClientCASecretRef = &mesosv1alpha1.SecretKeyRef{Namespace: managerNamespace, Name: kubeletClientCASecret}
	say("Applying %s: MesosCluster %q (master %s) and pod %s/%s with schedulerName: %s",
		o.samples, mc.Name, master, pod.Namespace, pod.Name, pod.Spec.SchedulerName)
	if err := createCluster(ctx, c, mc, master, executorPath); err != nil {
		return err
	}
	// Before the manager stops: deleting the cluster tears the framework down, so Mesos
	// kills its tasks — nothing is left running on a Mesos given with --mesos-master.
	defer teardown(c, mc, master)
	applyOutagePolicy(ctx, env.Config, c, o.install, mc, pod.Namespace)
	if err := c.Create(ctx, pod); err != nil {
		return fmt.Errorf("creating the sample pod: %w", err)
	}

	say("Waiting for the pod to run on Mesos")
	if err := waitForPod(ctx, c, pod, o.timeout, mgr, kubeconfigPath); err != nil {
		if !errors.Is(err, errStopped) {
			showCluster(c, mc)
		}
		return err
	}
	showRunning(ctx, o, c, mc, pod, ms, kubeconfigPath)
	if o.once {
		return nil
	}
	return waitForCtrlC(ctx, mgr)
}

// showRunning shows the pod running as a person would look at it: kubectl get, the
// served MesosTasks (--tasks-api), the cluster, kubectl logs, exec, port-forward and top,
// and how to use the cluster with their own kubectl.
func showRunning(ctx context.Context, o options, c client.Client, mc *mesosv1alpha1.MesosCluster, pod *corev1.Pod, ms *metricsServer, kubeconfigPath string) {
	waitForTasksInMemory(ctx, o, kubeconfigPath, pod)
	waitForCounted(ctx, c, mc)
	show(kubeconfigPath)
	showTasksAPI(ctx, o, kubeconfigPath, pod)
	showCluster(c, mc)
	waitForKubeletAPI(ctx, c, pod, kubeletAPIWait)
	showKubelet(kubeconfigPath, pod)
	showPortForward(ctx, c, kubeconfigPath, pod)
	showTop(ctx, ms, kubeconfigPath, pod)
	fmt.Printf("\nUse it with your own kubectl:\n  export KUBECONFIG=%s\n", kubeconfigPath)
}

// prepare reads the flags, checks that what they name is there, and makes the
// directory for the kubeconfig, logs and sandboxes, which it returns absolute.
func prepare(args []string) (options, string, error) {
	o, err := parseFlags(args)
	if err != nil {
		return o, "", err
	}
	logf.SetLogger(logr.Discard())
	if err := o.check(); err != nil {
		return o, "", err
	}
	kubectl = o.kubectl
	dir, err := makeDir(o.dir)
	return o, dir, err
}

// waitForCtrlC waits until Ctrl-C (or SIGTERM), or until the manager stops on its own.
func waitForCtrlC(ctx context.Context, mgr *manager) error {
	fmt.Println("Press Ctrl-C to stop everything.")
	select {
	case <-ctx.Done():
		return nil
	case <-mgr.done:
		return mgr.stopped()
	}
}

// startAPIServer starts kube-apiserver and etcd on loopback, with the CRDs, a kubelet
// client certificate of the CA it returns (configureKubeletClient), and, with a
// metrics-server to run or --tasks-api, set up for aggregation (configureAggregation).
func startAPIServer(o options, dir string) (*envtest.Environment, *pki.CA, error) {
	say("Starting kube-apiserver and etcd on loopback")
	crds, err := crdPaths(o)
	if err != nil {
		return nil, nil, err
	}
	env := &envtest.Environment{BinaryAssetsDirectory: o.assets, CRDDirectoryPaths: crds, ErrorIfCRDPathMissing: true}
	kubeletCA, err := configureKubeletClient(env, dir)
	if err != nil {
		return nil, nil, err
	}
	if err := configureAggregation(o, env, dir); err != nil {
		return nil, nil, err
	}
	if _, err := env.Start(); err != nil {
		// Start returns at the first part that fails, leaving what it started running
		// (etcd when kube-apiserver fails, both when the CRDs do not install).
		_ = env.Stop()
		return nil, nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	return env, kubeletCA, nil
}

const (
	// maxSimAgents is the most agents mesos-sim runs here: each on an address of its own,
	// agent-N on 127.0.0.N.
	maxSimAgents = 253
	// defaultTimeout is how long the sample pod has to run unless --timeout says.
	defaultTimeout = 3 * time.Minute
)

// parseFlags reads the flags of `k8sm-local up`. The binaries default to the ones
// beside k8sm-local, where `make build` puts them all, and metrics-server to the newest
// that `make test-deps` built there, if any.
func parseFlags(args []string) (options, error) {
	self, _ := os.Executable()
	binDir := filepath.Dir(self)
	var o options
	fs := flag.NewFlagSet("k8sm-local up", flag.ContinueOnError)
	fs.StringVar(&o.dir, "dir", ".k8sm-local", "Where the kubeconfig, logs and sandboxes go (the sandboxes in dir/mesos, emptied as each run starts).")
	fs.StringVar(&o.master, "mesos-master", "", "Use this Mesos master (http://host:5050, a list, or zk://) instead of mesos-sim.")
	fs.IntVar(&o.agents, "agents", 3, fmt.Sprintf("Number of mesos-sim agents (1 to %d: agent-N serves on 127.0.0.N).", maxSimAgents))
	fs.StringVar(&o.simListen, "sim-listen", "127.0.0.1:0", "Address of mesos-sim's master.")
	fs.BoolVar(&o.once, "once", false, "Stop everything once the sample pod runs, instead of waiting for Ctrl-C.")
	fs.DurationVar(&o.timeout, "timeout", defaultTimeout, "How long to wait for the sample pod to run.")
	fs.StringVar(&o.executor, "executor", filepath.Join(binDir, "k8sm-executor"), "The k8sm-executor binary the agents fetch (a path they can read).")
	fs.StringVar(&o.manager, "manager", filepath.Join(binDir, "manager"), "The manager binary.")
	fs.StringVar(&o.crds, "crds", filepath.Join("config", "crd", "bases"), "Directory of the CRDs.")
	fs.StringVar(&o.install, "install", filepath.Join("config", "default"), "The install's kustomization, whose admission policies are applied.")
	fs.StringVar(&o.samples, "samples", filepath.Join("config", "samples"), "Directory of the sample MesosCluster and pod to apply.")
	fs.StringVar(&o.assets, "assets", os.Getenv("KUBEBUILDER_ASSETS"), "Directory of kube-apiserver and etcd (make envtest prints it).")
	fs.StringVar(&o.metricsServer, "metrics-server", localmetrics.Binary(binDir),
		"The metrics-server binary, for kubectl top (make test-deps builds one into bin/metrics-server/<version>/); empty: run without it.")
	fs.BoolVar(&o.tasksAPI, "tasks-api", false, "Have the manager serve the MesosTasks read-only through kube-apiserver, as dist/install-with-tasks-api.yaml installs it: kubectl get "+tasksAPIResource+".")
	fs.BoolVar(&o.tasksInMemory, "tasks-in-memory", false, "Have the manager keep the MesosTasks in its memory alone and serve them, as dist/install-with-tasks-in-memory.yaml installs it: no MesosTask CRD, kubectl get mesostasks reads the served ones (implies --tasks-api).")
	fs.StringVar(&o.kubectl, "kubectl", findKubectl(binDir),
		"The kubectl to show the cluster with: PATH's, else the newest bin/k8s/<version>/kubectl beside k8sm-local (make test-deps builds one there when PATH has none); empty: none.")
	err := fs.Parse(args)
	o.tasksAPI = o.tasksAPI || o.tasksInMemory
	return o, err
}

// check says what is missing before anything starts, and how to get it: a half-started
// demo is harder to read than one line.
func (o *options) check() error {
	// With no agent the pod would wait the whole --timeout for nothing; past the last
	// loopback address mesos-sim would refuse only once kube-apiserver runs.
	if o.master == "" && (o.agents < 1 || o.agents > maxSimAgents) {
		return fmt.Errorf("--agents %d: mesos-sim runs 1 to %d agents here (agent-N on 127.0.0.N)", o.agents, maxSimAgents)
	}
	if o.timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, not %s", o.timeout)
	}
	// The binaries default to k8sm-local's own directory, the rest to paths relative to
	// the repository's root: each missing for its own reason.
	const built = "build it with 'make build' (make demo does), or name it with the flag"
	const root = "run k8sm-local from the repository's root, as make demo does, or name it with the flag"
	files := []struct{ name, path, hint string }{{"--executor", o.executor, built}, {"--manager", o.manager, built}, {"--crds", o.crds, root}, {"--install", o.install, root}}
	if o.metricsServer != "" {
		files = append(files, struct{ name, path, hint string }{"--metrics-server", o.metricsServer, buildMetricsServer})
	}
	if o.kubectl != "" {
		files = append(files, struct{ name, path, hint string }{"--kubectl", o.kubectl, noKubectl})
	}
	for _, f := range files {
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("%s %s: %w (%s)", f.name, f.path, err, f.hint)
		}
	}
	if o.assets == "" {
		return errors.New("no kube-apiserver/etcd: set --assets or KUBEBUILDER_ASSETS (make demo does)")
	}
	return nil
}

// makeDir makes the directory for the kubeconfig, logs and sandboxes, and returns it
// absolute, so the KUBECONFIG line printed at the end works from any directory.
func makeDir(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return dir, os.MkdirAll(dir, 0o755)
}

// writeKubeconfig writes dir/kubeconfig for an admin of the apiserver, for the manager
// and for a person's kubectl.
func writeKubeconfig(env *envtest.Environment, dir string) (string, error) {
	user, err := env.AddUser(envtest.User{Name: "k8sm-local-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	kubeconfigPath := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		return "", err
	}
	return kubeconfigPath, nil
}

// mesosMaster is the Mesos master to use: the one given with --mesos-master, or a
// mesos-sim started here. closeSim stops the sim; for a given master it does nothing.
func mesosMaster(o options, dir string) (master string, closeSim func(), err error) {
	if o.master != "" {
		say("Using the Mesos master %s", o.master)
		return o.master, func() {}, nil
	}
	sim, err := startSim(o, dir)
	if err != nil {
		return "", nil, err
	}
	master = sim.URL()
	say("mesos-sim: master %s with %d agents (state: %s/state)", master, o.agents, master)
	return master, func() { say("Stopping mesos-sim and its executors"); sim.Close() }, nil
}

// startSim starts mesos-sim in this process. Its agents run the real executor, with
// their sandboxes under dir, so the pod's processes can be looked at.
func startSim(o options, dir string) (*mesossim.Master, error) {
	// The sandboxes of the last run (about 100 MB: each holds a copy of the executor) go
	// first, so that they do not pile up and the paths under dir are this run's.
	workDir := filepath.Join(dir, "mesos")
	if err := os.RemoveAll(workDir); err != nil {
		return nil, fmt.Errorf("removing the last run's sandboxes: %w", err)
	}
	// Each agent on an address of its own (127.0.0.<i>), as agents on hosts of their own:
	// its executor serves the kubelet API of its Node there, on the cluster's one port.
	// An executor whose agent is gone waits RecoveryTimeout for it to come back (Mesos's
	// default is 15 minutes): were k8sm-local killed, the executors and their pods would
	// run on that long.
	sim, err := mesossim.New(mesossim.Config{Agents: o.agents, AgentAttributes: "rack:r1", Exec: true, LoopbackIPs: true,
		WorkDir: workDir, HeartbeatInterval: 5 * time.Second, RecoveryTimeout: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	if err := sim.Start(o.simListen); err != nil {
		var opErr *net.OpError
		if errors.As(err, &opErr) {
			return nil, fmt.Errorf("mesos-sim cannot listen on %s (is the port taken? choose another with --sim-listen): %w", o.simListen, err)
		}
		return nil, err
	}
	return sim, nil
}

// manager is the manager binary running in a process group of its own.
type manager struct {
	cmd *exec.Cmd
	log *os.File
	// done is closed when the process has exited.
	done chan struct{}
	dir  string
}

// startManager starts the manager binary against kubeconfig, with args besides its
// defaults, logging to dir/manager.log.
func startManager(binary, dir, kubeconfig string, args ...string) (*manager, error) {
	say("Starting the manager (log: %s)", filepath.Join(dir, "manager.log"))
	mgrLog, err := os.Create(filepath.Join(dir, "manager.log"))
	if err != nil {
		return nil, err
	}
	mgr := exec.Command(binary, append([]string{"--health-probe-bind-address=127.0.0.1:0", "--metrics-bind-address=0"}, args...)...)
	mgr.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	mgr.Stdout, mgr.Stderr = mgrLog, mgrLog
	// A process group of its own, so a Ctrl-C at the terminal leaves it to stop, and
	// killed with k8sm-local, should that die without stopping it.
	mgr.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := mgr.Start(); err != nil {
		_ = mgrLog.Close()
		return nil, fmt.Errorf("starting the manager: %w", err)
	}
	m := &manager{cmd: mgr, log: mgrLog, done: make(chan struct{}), dir: dir}
	go func() { _ = mgr.Wait(); close(m.done) }()
	return m, nil
}

// stop stops the manager's process group: SIGTERM, then SIGKILL after 10 seconds.
func (m *manager) stop() {
	say("Stopping the manager")
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
		<-m.done
	}
	_ = m.log.Close()
}

// stopped is the error for a manager that exited on its own. Its log says why.
func (m *manager) stopped() error {
	return fmt.Errorf("the manager stopped; see %s", filepath.Join(m.dir, "manager.log"))
}

// newClient is a client of the apiserver for k8sm's types and the built-in ones.
func newClient(env *envtest.Environment) (client.Client, error) {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = mesosv1alpha1.AddToScheme(scheme)
	return client.New(env.Config, client.Options{Scheme: scheme})
}

// readSamples reads the sample MesosCluster and pod from the samples directory, strictly,
// so a misspelt field is an error rather than ignored.
func readSamples(samples string) (*mesosv1alpha1.MesosCluster, *corev1.Pod, error) {
	mc, pod := &mesosv1alpha1.MesosCluster{}, &corev1.Pod{}
	for file, obj := range map[string]any{"mesos_v1alpha1_mesoscluster.yaml": mc, "pod.yaml": pod} {
		b, err := os.ReadFile(filepath.Join(samples, file))
		if err == nil {
			err = yaml.UnmarshalStrict(b, obj)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading the samples (run from the repository's root, or set --samples): %w", err)
		}
	}
	return mc, pod, nil
}

// createCluster creates the sample MesosCluster for this machine: the sample names a
// master and an executor path of a typical agent; here they are the ones this command
// runs.
func createCluster(ctx context.Context, c client.Client, mc *mesosv1alpha1.MesosCluster, master, executorPath string) error {
	mc.Spec.Master = master
	mc.Spec.Executor.URI, mc.Spec.Executor.Image = executorPath, ""
	mc.Spec.Executor.Command = "./k8sm-executor --restart-backoff=1s"
	if err := c.Create(ctx, mc); err != nil {
		return fmt.Errorf("creating the MesosCluster: %w", err)
	}
	return nil
}

// waitForPod waits until the pod is Running, then Ready (its readiness probe answered)
// for up to readyWait more: a pod whose probe never passes is shown Running but not
// Ready. It gives up after timeout, or when the manager stops.
func waitForPod(ctx context.Context, c client.Client, pod *corev1.Pod, timeout time.Duration, mgr *manager, kubeconfigPath string) error {
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var runningSince time.Time
	last := &corev1.Pod{}
	for {
		p := &corev1.Pod{}
		err := c.Get(waitCtx, client.ObjectKeyFromObject(pod), p)
		if err == nil {
			last = p
		}
		if err == nil && p.Status.Phase == corev1.PodRunning {
			if runningSince.IsZero() {
				runningSince = time.Now()
			}
			if podtask.PodReady(&p.Status) || time.Since(runningSince) > readyWait {
				return nil
			}
		}
		select {
		case <-mgr.done:
			return mgr.stopped()
		case <-waitCtx.Done():
			if ctx.Err() != nil {
				return errStopped
			}
			show(kubeconfigPath)
			showPod(last)
			return fmt.Errorf("the pod did not run within %s; see %s", timeout, filepath.Join(mgr.dir, "manager.log"))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// errStopped is the error of a run stopped by Ctrl-C (or SIGTERM) before the sample pod
// ran.
var errStopped = errors.New("stopped before the sample pod ran")

// readyWait is how long a running sample pod may take to become Ready.
const readyWait = 20 * time.Second

// teardown deletes the MesosCluster and waits until the manager let it go (after
// TEARDOWN), for at most 30 seconds.
func teardown(c client.Client, mc *mesosv1alpha1.MesosCluster, master string) {
	say("Deleting MesosCluster %q: Mesos kills its tasks", mc.Name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Delete(ctx, mc); err != nil && !apierrors.IsNotFound(err) {
		say("Could not delete MesosCluster %q (%v): its tasks may still run on %s", mc.Name, err, master)
		return
	}
	for {
		err := c.Get(ctx, client.ObjectKeyFromObject(mc), &mesosv1alpha1.MesosCluster{})
		if apierrors.IsNotFound(err) {
			return
		}
		select {
		case <-ctx.Done():
			say("MesosCluster %q was not gone within 30s: its tasks may still run on %s", mc.Name, master)
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// showArgs are the kubectl arguments show runs.
var showArgs = []string{"get", "mesosclusters,mesostasks,pods,nodes", "-o", "wide"}

// noKubectlToShow is what show says without kubectl: how to get one, and what it would
// have shown.
func noKubectlToShow() string {
	return fmt.Sprintf("(%s to see `kubectl %s` here)", noKubectl, strings.Join(showArgs, " "))
}

// show prints what a person would look at, with kubectl when it is installed.
func show(kubeconfig string) {
	if kubectl == "" {
		fmt.Println(noKubectlToShow())
		return
	}
	cmd := kubectlCommand(context.Background(), kubeconfig, showArgs...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	fmt.Println()
	_ = cmd.Run()
}

// showKubelet shows what reaches the pod through its Node's kubelet API, which its
// agent's executor serves: the pod's log and a command run in it.
func showKubelet(kubeconfig string, pod *corev1.Pod) {
	if kubectl == "" {
		return
	}
	for _, args := range [][]string{
		{"logs", pod.Name},
		{"exec", pod.Name, "--", "sh", "-c", "echo I am $(id -un), in $(pwd)"},
	} {
		args = append([]string{"-n", pod.Namespace}, args...)
		fmt.Printf("\n%s\n", commandLine(args))
		_ = runShown(kubectlCommand(context.Background(), kubeconfig, args...), os.Stdout)
	}
}

// runShown runs cmd with its output to out, and its error output too only when it
// fails: kubectl exec, for one, may log a harmless line of its own as it connects
// (client-go's "Unknown stream id 1, discarding message", for the API server's first,
// empty frame), which would read as the command's answer, or as a fault.
func runShown(cmd *exec.Cmd, out io.Writer) error {
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &stderr
	err := cmd.Run()
	if err != nil {
		_, _ = out.Write(stderr.Bytes())
	}
	return err
}

// commandLine is kubectl with args as a person would type it into a shell.
func commandLine(args []string) string {
	shown := make([]string, len(args))
	for i, a := range args {
		shown[i] = a
		if strings.ContainsAny(a, " $()") {
			shown[i] = "'" + a + "'"
		}
	}
	return "$ kubectl " + strings.Join(shown, " ")
}
