// Command k8sm-executor is the Mesos executor of k8sm: the agent starts it (one per agent
// per MesosCluster) and it runs the cluster's pods there.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/k8sm/k8sm/executor"
	"github.com/k8sm/k8sm/executor/kubelet"
	"github.com/k8sm/k8sm/executor/kubeletserve"
	"github.com/k8sm/k8sm/executor/process"
)

func main() {
	// A copy of this program started by the process runtime — as its watchdog, or to
	// start a container under its securityContext — or by the kubelet runtime as its
	// watchdog does that here and never returns.
	process.Init()
	kubelet.Init()
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "k8sm-executor:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("k8sm-executor", flag.ContinueOnError)
	runtime := fs.String("runtime", "process", "How pods run: process (child processes in the sandbox) or kubelet (static pods of the agent's kubelet).")
	backoff := fs.Duration("restart-backoff", 10*time.Second, "process runtime: wait before a failed container restarts a second time (the first is at once, as a kubelet does); it doubles up to 5m, and starts over after a run of 10m.")
	pids := fs.Int64("pod-pids-limit", 0, "process runtime: the most tasks (threads included) each pod's cgroup may hold, as the kubelet's podPidsLimit; 0 for no bound.")
	var kc kubeletFlags
	kc.bind(fs)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := zap.New(zap.UseFlagOptions(&zapOpts))
	ctrl.SetLogger(log)

	cfg, err := config.FromEnv()
	if err != nil {
		return fmt.Errorf("reading the MESOS_* environment (is this run by a Mesos agent?): %w", err)
	}
	var rt executor.Runtime
	switch *runtime {
	case "process":
		host, _ := os.Hostname()
		prt := &process.Runtime{BackoffBase: *backoff, HostIP: hostIP(cfg.AgentEndpoint), NodeName: host,
			Sandbox: executor.RunDir(cfg), PodPidsLimit: *pids, Log: log.WithName("process")}
		// Find (and log) the cgroups that hold pods to their limits now, before the
		// sweep and the first pod; without them pods still run, and are told.
		_, _ = prt.Cgroups()
		rt = prt
	case "kubelet":
		if rt, err = kc.runtime(log.WithName("kubelet"), cfg); err != nil {
			return err
		}
	default:
		return fmt.Errorf("--runtime=%s: use process or kubelet", *runtime)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	elog := log.WithValues("executor", cfg.ExecutorID)
	e := &executor.Executor{Config: cfg, Runtime: rt, Log: elog}
	// The kubelet API for the agent's Node, as the manager configures it (it serves
	// nothing until then); it ends with the executor.
	kapi := kubeletserve.NewServer(e, rt, hostIP(cfg.AgentEndpoint), elog.WithName("kubeletapi"))
	kapi.Sandbox = executor.RunDir(cfg)
	e.Messages = kapi
	sctx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	go kapi.Run(sctx)
	return e.Run(ctx)
}

// hostIP is the agent's IP, from MESOS_AGENT_ENDPOINT (ip:port).
func hostIP(endpoint string) string {
	if h, _, err := net.SplitHostPort(endpoint); err == nil {
		return h
	}
	return ""
}
