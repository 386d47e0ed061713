package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/k8sm/k8sm/internal/binversion"
)

// kubectl is the kubectl binary k8sm-local shows the cluster with (--kubectl), "" for
// none; run sets it.
var kubectl string

// noKubectl says how to get a kubectl k8sm-local finds.
const noKubectl = "install kubectl, or build one with `make test-deps` (into bin/k8s/<version>/ when PATH has none)"

// findKubectl is kubectl in PATH, else the newest binDir/k8s/<version>/kubectl (where
// make test-deps builds one when PATH has none), else "".
func findKubectl(binDir string) string {
	if p, err := exec.LookPath("kubectl"); err == nil {
		return p
	}
	found, _ := filepath.Glob(filepath.Join(binDir, "k8s", "*", "kubectl"))
	return binversion.Best(found, "")
}

// kubectlCommand is kubectl with args, against the cluster of kubeconfig.
func kubectlCommand(ctx context.Context, kubeconfig string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, kubectl, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	return cmd
}
