// Command k8sm-local runs k8sm on one machine, on loopback only: a local kube-apiserver
// and etcd, a simulated Mesos (or a Mesos master you name), the manager and the
// executor; it applies a MesosCluster and a pod and shows them running. Ctrl-C stops
// everything it started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
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
	"github.com/k8sm/k8sm/internal/mesossim"
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
	samples   string
	assets    string
}

func main() {
	if len(os.Args) < 2 || os.Args[1] != "up" {
		fmt.Fprintln(os.Stderr, "usage: k8sm-local up [flags]   (k8sm-local up -h for the flags)")
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "k8sm-local:", err)
		os.Exit(1)
	}
}

func say(format string, a ...any) { fmt.Printf("==> "+format+"\n", a...) }

func run(args []string) error {
	self, _ := os.Executable()
	binDir := filepath.Dir(self)
	var o options
	fs := flag.NewFlagSet("k8sm-local up", flag.ContinueOnError)
	fs.StringVar(&o.dir, "dir", ".k8sm-local", "Where the kubeconfig, logs and sandboxes go.")
	fs.StringVar(&o.master, "mesos-master", "", "Use this Mesos master (http://host:5050, a list, or zk://) instead of mesos-sim.")
	fs.IntVar(&o.agents, "agents", 3, "Number of mesos-sim agents.")
	fs.StringVar(&o.simListen, "sim-listen", "127.0.0.1:0", "Address of mesos-sim's master.")
	fs.BoolVar(&o.once, "once", false, "Stop everything once the sample pod runs, instead of waiting for Ctrl-C.")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "How long to wait for the sample pod to run.")
	fs.StringVar(&o.executor, "executor", filepath.Join(binDir, "k8sm-executor"), "The k8sm-executor binary the agents fetch (a path they can read).")
	fs.StringVar(&o.manager, "manager", filepath.Join(binDir, "manager"), "The manager binary.")
	fs.StringVar(&o.crds, "crds", filepath.Join("config", "crd", "bases"), "Directory of the CRDs.")
	fs.StringVar(&o.samples, "samples", filepath.Join("config", "samples"), "Directory of the sample MesosCluster and pod to apply.")
	fs.StringVar(&o.assets, "assets", os.Getenv("KUBEBUILDER_ASSETS"), "Directory of kube-apiserver and etcd (make envtest prints it).")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logf.SetLogger(logr.Discard())
	for _, f := range []struct{ name, path string }{{"--executor", o.executor}, {"--manager", o.manager}, {"--crds", o.crds}} {
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("%s %s: %w (run it through 'make demo', which builds everything)", f.name, f.path, err)
		}
	}
	if o.assets == "" {
		return errors.New("no kube-apiserver/etcd: set --assets or KUBEBUILDER_ASSETS (make demo does)")
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	executorPath, _ := filepath.Abs(o.executor)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	say("Starting kube-apiserver and etcd on loopback")
	env := &envtest.Environment{BinaryAssetsDirectory: o.assets, CRDDirectoryPaths: []string{o.crds}, ErrorIfCRDPathMissing: true}
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	defer func() { say("Stopping kube-apiserver and etcd"); _ = env.Stop() }()
	user, err := env.AddUser(envtest.User{Name: "k8sm-local-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return err
	}
	kubeconfigPath := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		return err
	}

	master := o.master
	if master == "" {
		sim, err := mesossim.New(mesossim.Config{Agents: o.agents, AgentAttributes: "rack:r1", Exec: true,
			WorkDir: filepath.Join(dir, "mesos"), HeartbeatInterval: 5 * time.Second})
		if err != nil {
			return err
		}
		if err := sim.Start(o.simListen); err != nil {
			var opErr *net.OpError
			if errors.As(err, &opErr) {
				return fmt.Errorf("mesos-sim cannot listen on %s (is the port taken? choose another with --sim-listen): %w", o.simListen, err)
			}
			return err
		}
		defer func() { say("Stopping mesos-sim and its executors"); sim.Close() }()
		master = sim.URL()
		say("mesos-sim: master %s with %d agents (state: %s/state)", master, o.agents, master)
	} else {
		say("Using the Mesos master %s", master)
	}

	say("Starting the manager (log: %s)", filepath.Join(dir, "manager.log"))
	mgrLog, err := os.Create(filepath.Join(dir, "manager.log"))
	if err != nil {
		return err
	}
	defer func() { _ = mgrLog.Close() }()
	mgr := exec.Command(o.manager, "--health-probe-bind-address=127.0.0.1:0", "--metrics-bind-address=0")
	mgr.Env = append(os.Environ(), "KUBECONFIG="+kubeconfigPath)
	mgr.Stdout, mgr.Stderr = mgrLog, mgrLog
	mgr.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := mgr.Start(); err != nil {
		return fmt.Errorf("starting the manager: %w", err)
	}
	mgrDone := make(chan struct{})
	go func() { _ = mgr.Wait(); close(mgrDone) }()
	defer func() {
		say("Stopping the manager")
		_ = syscall.Kill(-mgr.Process.Pid, syscall.SIGTERM)
		select {
		case <-mgrDone:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-mgr.Process.Pid, syscall.SIGKILL)
			<-mgrDone
		}
	}()

	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = mesosv1alpha1.AddToScheme(scheme)
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	mc, pod := &mesosv1alpha1.MesosCluster{}, &corev1.Pod{}
	for file, obj := range map[string]any{"mesos_v1alpha1_mesoscluster.yaml": mc, "pod.yaml": pod} {
		b, err := os.ReadFile(filepath.Join(o.samples, file))
		if err == nil {
			err = yaml.UnmarshalStrict(b, obj)
		}
		if err != nil {
			return fmt.Errorf("reading the samples (run from the repository's root, or set --samples): %w", err)
		}
	}
	say("Applying %s: MesosCluster %q (master %s) and pod %s/%s with schedulerName: %s",
		o.samples, mc.Name, master, pod.Namespace, pod.Name, pod.Spec.SchedulerName)
	// The sample names a master and an executor path of a typical agent; here they are
	// the ones this command runs.
	mc.Spec.Master = master
	mc.Spec.Executor.URI, mc.Spec.Executor.Image = executorPath, ""
	mc.Spec.Executor.Command = "./k8sm-executor --restart-backoff=1s"
	if err := c.Create(ctx, mc); err != nil {
		return fmt.Errorf("creating the MesosCluster: %w", err)
	}
	// Before the manager stops: deleting the cluster tears the framework down, so Mesos
	// kills its tasks — nothing is left running on a Mesos given with --mesos-master.
	defer teardown(c, mc, master)
	if err := c.Create(ctx, pod); err != nil {
		return fmt.Errorf("creating the sample pod: %w", err)
	}

	say("Waiting for the pod to run on Mesos")
	waitCtx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	// Running, then Ready (its readiness probe answered) for up to readyWait more: a
	// sample without a server (no busybox on the agent) is shown Running but not Ready.
	var runningSince time.Time
	for {
		p := &corev1.Pod{}
		if err := c.Get(waitCtx, client.ObjectKeyFromObject(pod), p); err == nil && p.Status.Phase == corev1.PodRunning {
			if runningSince.IsZero() {
				runningSince = time.Now()
			}
			if podReady(p) || time.Since(runningSince) > readyWait {
				break
			}
		}
		select {
		case <-mgrDone:
			return fmt.Errorf("the manager stopped; see %s", filepath.Join(dir, "manager.log"))
		case <-waitCtx.Done():
			show(kubeconfigPath)
			return fmt.Errorf("the pod did not run within %s; see %s", o.timeout, filepath.Join(dir, "manager.log"))
		case <-time.After(250 * time.Millisecond):
		}
	}
	show(kubeconfigPath)
	fmt.Printf("\nUse it with your own kubectl:\n  export KUBECONFIG=%s\n", kubeconfigPath)
	if o.once {
		return nil
	}
	fmt.Println("Press Ctrl-C to stop everything.")
	select {
	case <-ctx.Done():
	case <-mgrDone:
		return fmt.Errorf("the manager stopped; see %s", filepath.Join(dir, "manager.log"))
	}
	return nil
}

// readyWait is how long a running sample pod may take to become Ready.
const readyWait = 20 * time.Second

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

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

// show prints what a person would look at, with kubectl when it is installed.
func show(kubeconfig string) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		fmt.Println("(install kubectl to see `kubectl get mesosclusters,mesostasks,pods -o wide` here)")
		return
	}
	cmd := exec.Command("kubectl", "get", "mesosclusters,mesostasks,pods,nodes", "-o", "wide")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	fmt.Println()
	_ = cmd.Run()
}
