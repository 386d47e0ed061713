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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

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
	say("Applying a MesosCluster and a pod with schedulerName: mesos")
	mc := &mesosv1alpha1.MesosCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "local"},
		Spec: mesosv1alpha1.MesosClusterSpec{
			Master:   master,
			Executor: mesosv1alpha1.ExecutorSpec{URI: executorPath, Command: "./k8sm-executor --restart-backoff=1s"},
		},
	}
	if err := c.Create(ctx, mc); err != nil {
		return fmt.Errorf("creating the MesosCluster: %w", err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "hello-mesos"},
		Spec: corev1.PodSpec{SchedulerName: "mesos", Containers: []corev1.Container{{
			Name: "hello", Image: "busybox", Command: []string{"sh", "-c", "echo hello from Mesos; exec sleep 3600"},
		}}},
	}
	if err := c.Create(ctx, pod); err != nil {
		return fmt.Errorf("creating the sample pod: %w", err)
	}

	say("Waiting for the pod to run on Mesos")
	waitCtx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	for {
		p := &corev1.Pod{}
		if err := c.Get(waitCtx, client.ObjectKeyFromObject(pod), p); err == nil && p.Status.Phase == corev1.PodRunning {
			break
		}
		select {
		case err := <-mgrDone:
			return fmt.Errorf("the manager stopped (%v); see %s", err, filepath.Join(dir, "manager.log"))
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
	case err := <-mgrDone:
		return fmt.Errorf("the manager stopped (%v); see %s", err, filepath.Join(dir, "manager.log"))
	}
	return nil
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
