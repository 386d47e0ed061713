// Package testenv starts a real kube-apiserver and etcd (controller-runtime's envtest)
// with the k8sm CRDs installed, for the project's own tests.
package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// RepoRoot is the root of the k8sm checkout this package was built from.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// AssetsDir finds kube-apiserver and etcd: $KUBEBUILDER_ASSETS when set, else the newest
// bin/k8s/<version> that hack/envtest.sh left in the checkout.
func AssetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	candidates, _ := filepath.Glob(filepath.Join(RepoRoot(), "bin", "k8s", "*", "kube-apiserver"))
	sort.Strings(candidates)
	for i := len(candidates) - 1; i >= 0; i-- {
		dir := filepath.Dir(candidates[i])
		if _, err := os.Stat(filepath.Join(dir, "etcd")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("no kube-apiserver/etcd found: run `make envtest` (or `make test`), or set KUBEBUILDER_ASSETS")
}

// New returns an envtest environment with the k8sm CRDs, ready to Start.
func New() (*envtest.Environment, error) {
	dir, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	return &envtest.Environment{
		BinaryAssetsDirectory: dir,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}, nil
}

// Start starts an environment made by New and returns it.
func Start() (*envtest.Environment, error) {
	env, err := New()
	if err != nil {
		return nil, err
	}
	if _, err := env.Start(); err != nil {
		// Start returns at the first part that fails, leaving what it started running
		// (etcd when kube-apiserver fails, both when the CRDs do not install).
		_ = env.Stop()
		return nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w", env.BinaryAssetsDirectory, err)
	}
	return env, nil
}

// FreePort returns a loopback TCP port nobody listens on right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
