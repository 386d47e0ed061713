package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/testenv"
)

// operatorKubeconfig writes a kubeconfig for the manager as it runs in a cluster: a
// ServiceAccount token, authorized by the operator's own RBAC as config/default installs
// it (its ClusterRole and its Roles in its namespace and kube-node-lease), not an
// administrator's client certificate. The API server's cost per request is then a
// deployment's (a cached token review and RBAC, not a certificate verification on every
// request), and the run shows that the RBAC allows all the manager does.
func operatorKubeconfig(ctx context.Context, admin *rest.Config) (string, error) {
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return "", err
	}
	install := "default"
	if tasksInMemory {
		install = "tasks-in-memory"
	}
	if err := testenv.InstallManagerRBACOf(ctx, admin, install); err != nil {
		return "", err
	}
	ns, sa := testenv.ManagerNamespace, testenv.ManagerAccount
	hour := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting the manager's token: %w", err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["bench"] = &clientcmdapi.Cluster{Server: admin.Host, CertificateAuthorityData: admin.CAData}
	kc.AuthInfos["k8sm"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["k8sm"] = &clientcmdapi.Context{Cluster: "bench", AuthInfo: "k8sm", Namespace: ns}
	kc.CurrentContext = "k8sm"
	f, err := os.CreateTemp("", "bench-operator-kubeconfig-")
	if err != nil {
		return "", err
	}
	_ = f.Close()
	return f.Name(), clientcmd.WriteToFile(*kc, f.Name())
}

// k8smName names k8sm's run.
func k8smName() string {
	if tasksInMemory {
		return "k8sm (manager + mesos-sim, simulated tasks, MesosTasks in memory)"
	}
	return "k8sm (manager + mesos-sim, simulated tasks)"
}

// benchManager is the manager binary running for the bench.
type benchManager struct {
	cmd *exec.Cmd
	// log holds its output; errors name it.
	log *os.File
	// pprofAddr is where it serves pprof, when -cpuprofile, -heapprofile or
	// -failover-cpuprofile asks for a profile.
	pprofAddr string
	// probeAddr is where it serves /healthz and /readyz.
	probeAddr string
	// metricsAddr is where it serves its metrics (plain http, loopback), with the
	// MesosTasks in memory and leader election: a standby's copy of the leader's.
	metricsAddr string
}

// replicaPods, with the MesosTasks in memory, makes a pod for each manager started with
// leader election, as the Deployment's would be (on loopback, naming its tasks-api
// port): the leader labels its own, and a standby finds the leader's there, to keep a
// copy of its MesosTasks. Nil: no pods (the manager then runs without POD_NAME). Not
// used with the MesosTask CRD.
var replicaPods client.Client

// replicas counts the managers started, to name their pods.
var replicas int

// replicaPod makes the pod of a manager serving the MesosTasks at addr, and returns its
// name.
func replicaPod(addr string) (string, error) {
	replicas++
	name := fmt.Sprintf("bench-manager-%d", replicas)
	if err := testenv.ReplicaPod(context.Background(), replicaPods, testenv.ManagerNamespace, name, nil, addr); err != nil {
		return "", fmt.Errorf("the manager's pod: %w", err)
	}
	return name, nil
}

// startManager starts the manager with kubeconfig, logging errors only: its logging
// would cost CPU the bench measures. With leaderElect it runs as deployed, one of
// replicas that elect a leader. With pprof it serves Go's profiles, for a profile asked
// for.
func startManager(bin, kubeconfig string, leaderElect, pprof bool) (*benchManager, error) {
	logFile, err := os.CreateTemp("", "bench-manager-*.log")
	if err != nil {
		return nil, err
	}
	probeAddr, err := freeLoopbackAddr()
	if err != nil {
		_ = logFile.Close()
		return nil, err
	}
	args := []string{"--health-probe-bind-address=" + probeAddr, "--metrics-bind-address=0", "--zap-log-level=error"}
	if leaderElect {
		args = append(args, "--leader-elect", "--leader-election-namespace="+testenv.ManagerNamespace)
	}
	tasksAPIAddr := ""
	if tasksInMemory {
		if tasksAPIAddr, err = freeLoopbackAddr(); err != nil {
			_ = logFile.Close()
			return nil, err
		}
		args = append(args, "--mesostask-storage=memory", "--tasks-api-bind-address="+tasksAPIAddr)
	}
	var env []string
	metricsAddr := ""
	if tasksInMemory && leaderElect && replicaPods != nil {
		name, err := replicaPod(tasksAPIAddr)
		if err != nil {
			_ = logFile.Close()
			return nil, err
		}
		env = append(env, "POD_NAME="+name)
		if metricsAddr, err = freeLoopbackAddr(); err != nil {
			_ = logFile.Close()
			return nil, err
		}
		args = append(args, "--metrics-bind-address="+metricsAddr, "--metrics-secure=false")
	}
	args = append(args, strings.Fields(managerArgs)...)
	pprofAddr := ""
	if pprof {
		if pprofAddr, err = freeLoopbackAddr(); err != nil {
			_ = logFile.Close()
			return nil, err
		}
		args = append(args, "--pprof-bind-address="+pprofAddr)
	}
	mgr := exec.Command(filepath.Join(bin, "manager"), args...)
	mgr.Env = append(append(os.Environ(), "KUBECONFIG="+kubeconfig), env...)
	mgr.Stdout, mgr.Stderr = logFile, logFile
	if err := mgr.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting the manager: %w", err)
	}
	return &benchManager{cmd: mgr, log: logFile, pprofAddr: pprofAddr, probeAddr: probeAddr, metricsAddr: metricsAddr}, nil
}

// stop stops the manager with SIGTERM, as Kubernetes would, and closes its log.
func (m *benchManager) stop() {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	_ = m.cmd.Wait()
	_ = m.log.Close()
}
