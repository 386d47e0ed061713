// Package testenv starts a real kube-apiserver and etcd (controller-runtime's envtest)
// with the k8sm CRDs installed, for the project's own tests.
package testenv

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/k8sm/k8sm/internal/binversion"
)

// RepoRoot is the root of the k8sm checkout this package was built from.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// AssetsDir finds kube-apiserver and etcd: $KUBEBUILDER_ASSETS when set, else the
// bin/k8s/<version> that hack/envtest.sh left in the checkout: $ENVTEST_K8S_VERSION's
// when that is set and there, else the newest.
func AssetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	if dir := assetsIn(filepath.Join(RepoRoot(), "bin")); dir != "" {
		return dir, nil
	}
	return "", errors.New("no kube-apiserver/etcd found: run `make envtest` (or `make test`), or set KUBEBUILDER_ASSETS")
}

// assetsIn is the best bin/k8s/<version> that has both kube-apiserver and etcd, "" if
// none has.
func assetsIn(bin string) string {
	candidates, _ := filepath.Glob(filepath.Join(bin, "k8s", "*", "kube-apiserver"))
	binversion.Sort(candidates, preferredVersion())
	for _, c := range candidates {
		if dir := filepath.Dir(c); isFile(filepath.Join(dir, "etcd")) {
			return dir
		}
	}
	return ""
}

// preferredVersion is the Kubernetes version whose binaries come first: the one
// $ENVTEST_K8S_VERSION names (the Makefile's), else the one $KUBEBUILDER_ASSETS's
// directory is named by (bin/k8s/1.37.2, setup-envtest's bin/k8s/1.37.2-linux-amd64),
// if any.
func preferredVersion() string {
	if v := os.Getenv("ENVTEST_K8S_VERSION"); v != "" {
		return v
	}
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return filepath.Base(dir)
	}
	return ""
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
func Start() (*envtest.Environment, error) { return StartWith(nil) }

// StartWith starts an environment made by New, after configure (if set) has had its
// say (kube-apiserver's flags), and returns it.
func StartWith(configure func(*envtest.Environment) error) (*envtest.Environment, error) {
	env, err := New()
	if err != nil {
		return nil, err
	}
	if configure != nil {
		if err := configure(env); err != nil {
			return nil, err
		}
	}
	if _, err := env.Start(); err != nil {
		// Start returns at the first part that fails, leaving what it started running
		// (etcd when kube-apiserver fails, both when the CRDs do not install).
		_ = env.Stop()
		return nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w", env.BinaryAssetsDirectory, err)
	}
	return env, nil
}

// FreePort returns a loopback TCP port nobody listens on right now, for a program the
// test starts later to listen on. It is taken below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), where neither a listener on port 0 nor the local
// end of an outgoing connection lands: tests running beside this one (etcd,
// kube-apiserver and their clients) open hundreds of those, and one of them could take
// a port from that range between this call and the program's listen. When no port
// below the range is free, it falls back to one the kernel picks.
func FreePort() (int, error) {
	low := ephemeralLow()
	for range 100 {
		port := low - 1 - rand.IntN(freePortSpan)
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			_ = l.Close()
			return port, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freePortSpan is how many ports below the ephemeral range FreePort picks from.
const freePortSpan = 10000

// ephemeralLow is the first port of the kernel's ephemeral range, or Linux's default
// (32768) when it cannot be read, never less than 1024+freePortSpan.
func ephemeralLow() int {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	return max(low, 1024+freePortSpan)
}
