package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// assetsIn and componentIn choose bin/k8s/<version> by version, not by spelling, the
// preferred version first, and assetsIn only a directory with both kube-apiserver and
// etcd.
func TestBinariesByVersion(t *testing.T) {
	bin := t.TempDir()
	for _, f := range []string{
		"1.37.2/kube-apiserver", "1.37.2/etcd", "1.37.2/kube-scheduler",
		"1.37.10/kube-apiserver", "1.37.10/etcd", "1.37.10/kube-scheduler",
		// A build that was interrupted: no etcd yet.
		"1.38.0/kube-apiserver",
		"1.36.1/kube-apiserver", "1.36.1/etcd", "1.36.1/kubelet",
	} {
		p := filepath.Join(bin, "k8s", f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	k8s := func(v string) string { return filepath.Join(bin, "k8s", v) }
	for _, tc := range []struct {
		name, envtestVersion, assets string
		wantAssets, wantScheduler    string
	}{
		{name: "newest", wantAssets: k8s("1.37.10"), wantScheduler: k8s("1.37.10/kube-scheduler")},
		{name: "ENVTEST_K8S_VERSION", envtestVersion: "1.37.2", wantAssets: k8s("1.37.2"), wantScheduler: k8s("1.37.2/kube-scheduler")},
		{name: "ENVTEST_K8S_VERSION not built: newest", envtestVersion: "1.39.0", wantAssets: k8s("1.37.10"), wantScheduler: k8s("1.37.10/kube-scheduler")},
		{name: "ENVTEST_K8S_VERSION without the component: newest that has it", envtestVersion: "1.36.1", wantAssets: k8s("1.36.1"), wantScheduler: k8s("1.37.10/kube-scheduler")},
		{name: "the version of KUBEBUILDER_ASSETS", assets: "/somewhere/k8s/1.37.2-linux-amd64", wantAssets: k8s("1.37.2"), wantScheduler: k8s("1.37.2/kube-scheduler")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("ENVTEST_K8S_VERSION", tc.envtestVersion)
			t.Setenv("KUBEBUILDER_ASSETS", tc.assets)
			if got := assetsIn(bin); got != tc.wantAssets {
				t.Errorf("assetsIn = %q, want %q", got, tc.wantAssets)
			}
			if got := componentIn(bin, "kube-scheduler"); got != tc.wantScheduler {
				t.Errorf("componentIn(kube-scheduler) = %q, want %q", got, tc.wantScheduler)
			}
		})
	}
	if got := componentIn(bin, "kube-controller-manager"); got != "" {
		t.Errorf("componentIn of a component never built = %q, want \"\"", got)
	}
	if got := assetsIn(t.TempDir()); got != "" {
		t.Errorf("assetsIn of an empty bin = %q, want \"\"", got)
	}
}

// FreePort's ports lie below the kernel's ephemeral range, where an outgoing
// connection's local end cannot take them, and are free to listen on.
func TestFreePortIsBelowTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	for range 20 {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if port >= low || port < low-freePortSpan {
			t.Fatalf("port %d, want one in [%d, %d)", port, low-freePortSpan, low)
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatalf("port %d is not free: %v", port, err)
		}
		_ = l.Close()
	}
}
