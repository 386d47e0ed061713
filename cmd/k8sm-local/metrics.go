package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/k8sm/k8sm/internal/localmetrics"
)

// kubectl top reads the metrics API, which metrics-server serves through kube-apiserver's
// aggregator; metrics-server gets the numbers from each Node's kubelet API, which the
// executors serve. internal/localmetrics sets that up on loopback, as the e2e spec of
// kubectl top does. Without a metrics-server binary, k8sm-local runs without it.

// topWait is how long the pod's row in kubectl top may take: metrics-server's first two
// scrapes (10 seconds apart) and the aggregator finding it available.
const topWait = 90 * time.Second

// buildMetricsServer says how to get a metrics-server binary where k8sm-local finds it.
const buildMetricsServer = "build it with `make test-deps` or `hack/build-metrics-server.sh bin/metrics-server`"

// metricsServer is metrics-server running for kubectl top. A nil one is none: without
// its binary.
type metricsServer struct {
	srv     *localmetrics.Server
	log     *os.File
	logPath string
}

// configureAggregation sets kube-apiserver's flags for aggregated APIs before it
// starts, when there is one: metrics-server's, or the MesosTasks API (--tasks-api).
func configureAggregation(o options, env *envtest.Environment, dir string) error {
	if o.metricsServer == "" && !o.tasksAPI {
		return nil
	}
	return localmetrics.ConfigureAPIServer(env.ControlPlane.GetAPIServer().Configure(), filepath.Join(dir, "pki"))
}

// startMetricsServer starts metrics-server against the running kube-apiserver, logging
// to dir/metrics-server.log. Without a binary it starts nothing and returns nil.
func startMetricsServer(ctx context.Context, o options, env *envtest.Environment, dir string) (*metricsServer, error) {
	if o.metricsServer == "" {
		return nil, nil
	}
	m := &metricsServer{logPath: filepath.Join(dir, "metrics-server.log")}
	var err error
	if m.log, err = os.Create(m.logPath); err != nil {
		return nil, err
	}
	m.srv, err = localmetrics.Start(ctx, env.Config, localmetrics.Options{Binary: o.metricsServer, Dir: filepath.Join(dir, "pki"), Log: m.log})
	if err != nil {
		_ = m.log.Close()
		return nil, fmt.Errorf("starting metrics-server (log: %s): %w", m.logPath, err)
	}
	say("metrics-server: https://%s as %s, for kubectl top (log: %s)", m.srv.Addr, localmetrics.APIService, m.logPath)
	return m, nil
}

// stop stops metrics-server, if one runs.
func (m *metricsServer) stop() {
	if m == nil {
		return
	}
	say("Stopping metrics-server")
	m.srv.Stop()
	_ = m.log.Close()
}

// kubectlUntilRow runs kubectl with args every so often until its output has a row of
// name (the name at the start of a line, under the header), or ctx ends; it returns the
// last output, and ctx's error if it ended first.
func kubectlUntilRow(ctx context.Context, kubeconfig string, args []string, name string, every time.Duration) ([]byte, error) {
	row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s`)
	for {
		out, _ := kubectlCommand(ctx, kubeconfig, args...).CombinedOutput()
		if row.Match(out) {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(every):
		}
	}
}

// showTop shows kubectl top of the pod once metrics-server has its numbers, waiting for
// them up to topWait; without metrics-server it says how to get it.
func showTop(ctx context.Context, m *metricsServer, kubeconfig string, pod *corev1.Pod) {
	if kubectl == "" {
		return
	}
	fmt.Println()
	if m == nil {
		fmt.Printf("(kubectl top needs metrics-server: %s, and run this again)\n", buildMetricsServer)
		return
	}
	say("Waiting up to %.0fs for metrics-server to measure the pod (kubectl top)", topWait.Seconds())
	ctx, cancel := context.WithTimeout(ctx, topWait)
	defer cancel()
	args := []string{"-n", pod.Namespace, "top", "pod", pod.Name}
	// Before the pod's row, kubectl top says the metrics API or the pod's metrics are
	// not available yet.
	var out []byte
	err := m.srv.WaitAvailable(ctx)
	if err == nil {
		out, err = kubectlUntilRow(ctx, kubeconfig, args, pod.Name, 2*time.Second)
	}
	fmt.Printf("\n%s\n%s", commandLine(args), out)
	if err != nil {
		say("No row from kubectl top within %.0fs (%v); see %s", topWait.Seconds(), err, m.logPath)
	}
}
