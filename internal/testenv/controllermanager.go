package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ControllerManagerBinary finds kube-controller-manager beside kube-apiserver, or in the
// newest bin/k8s/<version>/.
func ControllerManagerBinary() (string, error) {
	if dir, err := AssetsDir(); err == nil {
		if p := filepath.Join(dir, "kube-controller-manager"); isFile(p) {
			return p, nil
		}
	}
	found, _ := filepath.Glob(filepath.Join(RepoRoot(), "bin", "k8s", "*", "kube-controller-manager"))
	if len(found) == 0 {
		return "", errors.New("no kube-controller-manager in bin/k8s/<version>/ (make test-deps builds it: hack/build-k8s-binaries.sh bin/k8s/<version> kube-controller-manager)")
	}
	sort.Strings(found)
	return found[len(found)-1], nil
}

// RequireControllerManager says whether specs that need kube-controller-manager must
// fail rather than skip when it is missing: in CI, and with K8SM_REQUIRE_KCM=1.
func RequireControllerManager() bool {
	return os.Getenv("CI") == "true" || os.Getenv("K8SM_REQUIRE_KCM") == "1"
}

// ControllerManager is a kube-controller-manager running against an envtest apiserver.
type ControllerManager struct {
	cmd *exec.Cmd
	dir string
	// Log is the file holding its output.
	Log string
}

// StartControllerManager runs kube-controller-manager with only the named controllers
// (e.g. "deployment", "replicaset", "job"), as a cluster admin, without serving.
func StartControllerManager(env *envtest.Environment, controllers ...string) (*ControllerManager, error) {
	bin, err := ControllerManagerBinary()
	if err != nil {
		return nil, err
	}
	user, err := env.AddUser(envtest.User{Name: "kube-controller-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "k8sm-kcm-")
	if err != nil {
		return nil, err
	}
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, kubeconfig, 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "kube-controller-manager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer func() { _ = logFile.Close() }()
	cmd := exec.Command(bin, "--kubeconfig="+kc, "--controllers="+strings.Join(controllers, ","),
		"--leader-elect=false", "--secure-port=0", "--concurrent-deployment-syncs=5", "--concurrent-replicaset-syncs=5", "-v=1")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	return &ControllerManager{cmd: cmd, dir: dir, Log: logPath}, nil
}

// Stop ends the controller manager and removes its files.
func (c *ControllerManager) Stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	_ = c.cmd.Wait()
	_ = os.RemoveAll(c.dir)
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
