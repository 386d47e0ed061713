package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/k8sm/k8sm/internal/binversion"
)

// ComponentBinary finds a Kubernetes component (kube-controller-manager, kube-scheduler,
// kubelet, kubectl) beside kube-apiserver (AssetsDir), or in bin/k8s/<version>/: the
// preferred version's (ENVTEST_K8S_VERSION, else that of KUBEBUILDER_ASSETS's directory)
// when it has one, else the newest.
func ComponentBinary(name string) (string, error) {
	if dir, err := AssetsDir(); err == nil {
		if p := filepath.Join(dir, name); isFile(p) {
			return p, nil
		}
	}
	if p := componentIn(filepath.Join(RepoRoot(), "bin"), name); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("no %s in bin/k8s/<version>/ (make test-deps builds it: hack/build-k8s-binaries.sh bin/k8s/<version> %s)", name, name)
}

// componentIn is the best bin/k8s/<version>/name, "" if there is none.
func componentIn(bin, name string) string {
	found, _ := filepath.Glob(filepath.Join(bin, "k8s", "*", name))
	return binversion.Best(found, preferredVersion())
}

// ControllerManagerBinary finds kube-controller-manager (see ComponentBinary).
func ControllerManagerBinary() (string, error) { return ComponentBinary("kube-controller-manager") }

// RequireControllerManager says whether specs that need kube-controller-manager or
// kube-scheduler must fail rather than skip when one is missing: in CI, and with
// K8SM_REQUIRE_KCM=1.
func RequireControllerManager() bool {
	return os.Getenv("CI") == "true" || os.Getenv("K8SM_REQUIRE_KCM") == "1"
}

// Component is a Kubernetes component running against an envtest apiserver.
type Component struct {
	cmd *exec.Cmd
	dir string
	// Log is the file holding its output.
	Log string
}

// StartControllerManager runs kube-controller-manager with only the named controllers
// (e.g. "deployment", "replicaset", "job"), as a cluster admin, without serving.
func StartControllerManager(env *envtest.Environment, controllers ...string) (*Component, error) {
	return startComponent(env, "kube-controller-manager", "--controllers="+strings.Join(controllers, ","),
		"--leader-elect=false", "--secure-port=0", "--concurrent-deployment-syncs=5", "--concurrent-replicaset-syncs=5", "-v=1")
}

// StartNodeLifecycle runs kube-controller-manager's node lifecycle and taint eviction
// controllers, as in a cluster but with a node monitor grace period of grace, checked
// every second: a Node whose Lease is not renewed for grace turns Unknown and is tainted
// node.kubernetes.io/unreachable:NoExecute, and pods that do not tolerate that are
// evicted.
func StartNodeLifecycle(env *envtest.Environment, grace time.Duration) (*Component, error) {
	return startComponent(env, "kube-controller-manager", "--controllers=nodelifecycle,taint-eviction-controller",
		"--leader-elect=false", "--secure-port=0", "--node-monitor-period=1s",
		"--node-monitor-grace-period="+grace.String(), "--node-startup-grace-period="+grace.String(), "-v=2")
}

// StartKubeletServingSigner runs kube-controller-manager's csrsigning controller with
// the kubernetes.io/kubelet-serving signer only, signing with the CA in certFile and
// keyFile (PEM), as a cluster signs its kubelets' serving certificates.
func StartKubeletServingSigner(env *envtest.Environment, certFile, keyFile string) (*Component, error) {
	return startComponent(env, "kube-controller-manager", "--controllers=csrsigning",
		"--leader-elect=false", "--secure-port=0",
		"--cluster-signing-kubelet-serving-cert-file="+certFile, "--cluster-signing-kubelet-serving-key-file="+keyFile, "-v=2")
}

// StartScheduler runs kube-scheduler, as a cluster admin, without serving: it binds the
// pods of the default scheduler.
func StartScheduler(env *envtest.Environment) (*Component, error) {
	return startComponent(env, "kube-scheduler", "--leader-elect=false", "--secure-port=0", "-v=1")
}

// startComponent runs a component with a cluster admin's kubeconfig and its output in a
// log file.
func startComponent(env *envtest.Environment, name string, args ...string) (*Component, error) {
	bin, err := ComponentBinary(name)
	if err != nil {
		return nil, err
	}
	user, err := env.AddUser(envtest.User{Name: name, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "k8sm-"+name+"-")
	if err != nil {
		return nil, err
	}
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, kubeconfig, 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer func() { _ = logFile.Close() }()
	cmd := exec.Command(bin, append([]string{"--kubeconfig=" + kc}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	return &Component{cmd: cmd, dir: dir, Log: logPath}, nil
}

// Stop ends the component and removes its files.
func (c *Component) Stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	_ = c.cmd.Wait()
	_ = os.RemoveAll(c.dir)
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
