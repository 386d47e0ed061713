package chaos

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/mesossim"
	"github.com/k8sm/k8sm/internal/testenv"
)

const (
	clusterName = "chaos"
	namespace   = "chaos"
	// The users the run's parties act as: the audit log says who deleted each pod.
	userManager = "k8sm-manager"
	userLoad    = "chaos-load"
	userKCM     = "kube-controller-manager" // testenv's components act as their own name
)

// run is one chaos run: the processes it started and what it saw.
type run struct {
	t        *testing.T
	p        profile
	logDir   string
	keepLogs bool

	env             *envtest.Environment
	auditLog        string
	load            client.Client // creates and deletes, as userLoad
	direct          client.Client // the checker's reads, straight from the API server
	cs              kubernetes.Interface
	sim             *mesossim.Master
	rec             *recorder
	mgrs            *managers
	proxy           *apiProxy
	api             *apiServer // restart-apiserver stops and starts it
	withControllers bool

	faults faultLog
	ends   faultEnds

	mu     sync.Mutex
	errors []string // what went wrong with the run itself (a fault that could not fire, no leader)
	// removedNodes are the Nodes of the agents removed for good (remove-agent).
	removedNodes map[string]bool
	// maintenance are the windows of the agents scheduled for maintenance, by hostname
	// (maintenance_test.go).
	maintenance map[string]maintenance.Window
	// executorBin is the k8sm-executor binary (-chaos.exec); executorVersion counts the
	// upgrades of the cluster's executor (upgrade-executor).
	executorBin     string
	executorVersion int
	// zkURL is where the cluster finds its master (-chaos.zk), and zkWithdraw takes the
	// master's announcement there back (zk.go).
	zkURL      string
	zkWithdraw func()
}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := mesosv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// newRun starts kube-apiserver (with an audit log of pod deletions), etcd,
// kube-controller-manager when its binary is there, mesos-sim with the checker's
// observer, and two manager replicas; everything is stopped when the test ends.
func newRun(t *testing.T, p profile) *run {
	g := NewWithT(t)
	r := &run{t: t, p: p}
	var err error
	r.logDir, err = os.MkdirTemp("", "k8sm-chaos-")
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() {
		if r.keepLogs || *flagKeep || t.Failed() {
			t.Logf("logs kept in %s", r.logDir)
			return
		}
		_ = os.RemoveAll(r.logDir)
	})

	managerBin := buildManager(t)
	executor := "/k8sm-executor" // never started while tasks are simulated
	if p.exec {
		executor = buildCmd(t, "k8sm-executor")
		r.executorBin = executor
	}
	r.startAPIServer(g)
	r.rec = newRecorder(r.direct)
	r.rec.memory = p.memory
	r.startControllers(g)
	r.startSim(g)
	master := r.sim.URL()
	if p.zk {
		master = r.startZK(g)
	}

	ctx := context.Background()
	g.Expect(r.load.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})).To(Succeed())
	// Real executors serve the kubelet API on a free port: on the default one, on the
	// sim's 127.0.0.1, they took the port of another suite's executors running at the
	// same time (go test runs packages side by side: the e2e suite's k8sm-local), whose
	// cluster then found it taken (KubeletAPIPortTaken), and its kubectl logs failed.
	kubeletPort, err := testenv.FreePort()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(r.load.Create(ctx, &mesosv1alpha1.MesosCluster{
		ObjectMeta: metav1.ObjectMeta{Name: clusterName},
		Spec: mesosv1alpha1.MesosClusterSpec{Master: master, Executor: mesosv1alpha1.ExecutorSpec{URI: executor},
			KubeletAPI: mesosv1alpha1.KubeletAPISpec{Port: int32(kubeletPort)}},
	})).To(Succeed())

	// The managers reach the API server through the proxy (slow-writes, api-errors).
	r.proxy, err = startProxy(r.userConfig(g, userManager), p.seed)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(r.proxy.close)
	kubeconfig, err := r.proxy.kubeconfig(r.logDir)
	g.Expect(err).NotTo(HaveOccurred())
	r.mgrs = &managers{bin: managerBin, kubeconfig: kubeconfig, logDir: r.logDir, logf: t.Logf, memory: p.memory}
	if p.memory {
		r.mgrs.tasksAPIPorts = replicaPods(g, r.load)
	}
	for slot := range 2 {
		g.Expect(r.mgrs.start(slot)).To(Succeed())
	}
	t.Cleanup(r.mgrs.stopAll)

	stopWatch := r.rec.watchPods(r.cs, namespace)
	t.Cleanup(stopWatch)
	stopSampler := r.rec.sampleLive(r.sim)
	t.Cleanup(stopSampler)
	return r
}

// buildManager builds cmd/manager, as a person runs it, unless -chaos.manager names a
// binary.
func buildManager(t *testing.T) string {
	if *flagBin != "" {
		return *flagBin
	}
	return buildCmd(t, "manager")
}

// buildCmd builds a command of cmd/ into a temporary directory.
func buildCmd(t *testing.T, name string) string {
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/"+name)
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, out)
	}
	return bin
}

// startAPIServer starts kube-apiserver and etcd with an audit log of pod deletions;
// kube-apiserver keeps its certificates in a directory of the run's, so that it can be
// started again as it was (restart-apiserver), and writes its output to the logs.
func (r *run) startAPIServer(g *WithT) {
	env, err := testenv.New()
	g.Expect(err).NotTo(HaveOccurred())
	policy := filepath.Join(r.logDir, "audit-policy.yaml")
	g.Expect(os.WriteFile(policy, []byte(auditPolicy), 0o600)).To(Succeed())
	r.auditLog = filepath.Join(r.logDir, "audit.log")
	certDir, err := os.MkdirTemp("", "k8sm-chaos-apiserver-")
	g.Expect(err).NotTo(HaveOccurred())
	r.t.Cleanup(func() { _ = os.RemoveAll(certDir) }) // after env.Stop: cleanups run last first
	out, err := os.Create(filepath.Join(r.logDir, "kube-apiserver.log"))
	g.Expect(err).NotTo(HaveOccurred())
	r.t.Cleanup(func() { _ = out.Close() })
	srv := env.ControlPlane.GetAPIServer()
	srv.CertDir, srv.Out, srv.Err = certDir, out, out
	srv.Configure().
		Set("audit-policy-file", policy).
		Set("audit-log-path", r.auditLog).
		Set("audit-log-format", "json").
		// On SIGTERM, close the watches and exit: without a grace period kube-apiserver
		// leaves them open and waits for them until envtest SIGKILLs it.
		Set("shutdown-watch-termination-grace-period", "2s")
	// Stopped also when Start fails part-way, which leaves what it started running.
	r.t.Cleanup(func() { _ = env.Stop() })
	_, err = env.Start()
	g.Expect(err).NotTo(HaveOccurred(), "starting kube-apiserver and etcd from %s", env.BinaryAssetsDirectory)
	r.env = env
	r.api = &apiServer{srv: srv}

	cfg := r.userConfig(g, userLoad)
	r.load, err = client.New(cfg, client.Options{Scheme: newScheme()})
	g.Expect(err).NotTo(HaveOccurred())
	r.direct = r.load
	r.cs, err = kubernetes.NewForConfig(cfg)
	g.Expect(err).NotTo(HaveOccurred())
}

// userConfig is the rest config of a cluster admin of that name.
func (r *run) userConfig(g *WithT, name string) *rest.Config {
	user, err := r.env.AddUser(envtest.User{Name: name, Groups: []string{"system:masters"}}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	cfg := rest.CopyConfig(user.Config())
	cfg.QPS, cfg.Burst = 500, 1000
	return cfg
}

// startControllers runs kube-controller-manager's deployment, replicaset and job
// controllers when the binary is there (in CI it must be).
func (r *run) startControllers(g *WithT) {
	if _, err := testenv.ControllerManagerBinary(); err != nil {
		if testenv.RequireControllerManager() {
			r.t.Fatalf("kube-controller-manager is required here: %v", err)
		}
		r.t.Logf("no Deployments or Jobs, bare pods only: %v", err)
		return
	}
	kcm, err := testenv.StartControllerManager(r.env, "deployment", "replicaset", "job")
	g.Expect(err).NotTo(HaveOccurred())
	r.withControllers = true
	r.t.Cleanup(func() {
		copyFile(kcm.Log, filepath.Join(r.logDir, "kube-controller-manager.log"))
		kcm.Stop()
	})
}

func copyFile(from, to string) {
	in, err := os.Open(from)
	if err != nil {
		return
	}
	defer func() { _ = in.Close() }()
	out, err := os.Create(to)
	if err != nil {
		return
	}
	defer func() { _ = out.Close() }()
	_, _ = io.Copy(out, in)
}

// startSim starts mesos-sim on loopback, with the checker as its observer: its agents
// simulate tasks, or with -chaos.exec run the real executor (sandboxes in the logs).
func (r *run) startSim(g *WithT) {
	sim, err := mesossim.New(mesossim.Config{
		Exec:               r.p.exec,
		WorkDir:            filepath.Join(r.logDir, "mesos"),
		Agents:             r.p.agents,
		AgentResources:     "cpus:16;mem:32768;disk:100000;ports:[31000-32000]",
		HeartbeatInterval:  time.Second,
		AllocationInterval: 100 * time.Millisecond,
		UpdateRetry:        2 * time.Second,
		TaskStartDelay:     300 * time.Millisecond,
		Observer:           r.rec.observer(),
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(sim.Start("127.0.0.1:0")).To(Succeed())
	r.sim = sim
	r.t.Cleanup(sim.Close)
}

// waitReady waits for a leader, the framework's subscription and every agent's Node.
func (r *run) waitReady() {
	g := NewWithT(r.t)
	ctx := context.Background()
	_, err := r.mgrs.waitLeader(2 * time.Minute)
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func() (string, error) {
		mc := &mesosv1alpha1.MesosCluster{}
		err := r.direct.Get(ctx, client.ObjectKey{Name: clusterName}, mc)
		return mc.Status.FrameworkID, err
	}, time.Minute, 100*time.Millisecond).ShouldNot(BeEmpty(), "the framework subscribes")
	g.Eventually(func() (int, error) {
		var nodes corev1.NodeList
		err := r.direct.List(ctx, &nodes, client.MatchingLabels{agentnode.LabelCluster: clusterName})
		return len(nodes.Items), err
	}, time.Minute, 200*time.Millisecond).Should(Equal(r.p.agents), "every agent is a Node")
}

// runError records something that went wrong with the run itself; the run fails.
func (r *run) runError(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.t.Log("run error: " + msg)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, msg)
}

func (r *run) runErrors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errors...)
}

// replicaPods makes, with the MesosTasks in memory, a pod for each manager slot in the
// manager's namespace, as the Deployment's would be: on loopback, with a free port named
// tasks-api, where the slot serves the MesosTasks. The leader labels its own, and the
// standby finds the leader's there, to pass requests on and keep a copy of its MesosTasks.
func replicaPods(g Gomega, c client.Client) (ports [2]int) {
	ctx := context.Background()
	ns := "k8sm-system"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); !apierrors.IsAlreadyExists(err) {
		g.Expect(err).NotTo(HaveOccurred())
	}
	for slot := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		g.Expect(err).NotTo(HaveOccurred())
		ports[slot] = l.Addr().(*net.TCPAddr).Port
		g.Expect(l.Close()).To(Succeed())
		g.Expect(testenv.ReplicaPod(ctx, c, ns, replicaPodName(slot), map[string]string{"app": "k8sm"}, l.Addr().String())).To(Succeed())
	}
	return ports
}
