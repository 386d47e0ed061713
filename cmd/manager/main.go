// Command manager runs the k8sm operator: it registers one Mesos framework per
// MesosCluster and runs pods that name the cluster's schedulerName as Mesos tasks.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/controllers"
	"github.com/k8sm/k8sm/internal/lazylog"
	"github.com/k8sm/k8sm/internal/taskapi"
)

// The leader election's defaults. A standby takes over a leader killed without releasing
// its Lease (SIGKILL, a lost machine) after the lease duration, and Mesos's tasks wait
// for that, not Kubernetes': 6 s (controller-runtime's 15 s would make it 16-17 s to lead
// again) keeps a manager failover with its tasks reconciled under 10 s. The retry period
// is how often a standby looks at the Lease, with client-go's jitter of up to 1.2 periods:
// 0.5 s has it lead at most about 1 s after the lease ran out (2.2 s with 1 s), for one
// Lease request a second more per replica. A leader that
// cannot renew for the renew deadline stops leading (it exits, and restarts as a
// standby); on an API server that is often slower than that, lengthen all three.
const (
	defaultLeaseDuration = 6 * time.Second
	defaultRenewDeadline = 4 * time.Second
	defaultRetryPeriod   = 500 * time.Millisecond
)

// options are the manager's command-line settings.
type options struct {
	metricsAddr      string
	secureMetrics    bool
	metricsCertDir   string
	enableHTTP2      bool
	probeAddr        string
	pprofAddr        string
	leaderElect      bool
	leaderElectionID string
	leaderElectionNS string
	// leaseDuration, renewDeadline and retryPeriod tune the leader election: a standby
	// takes over a leader that died without releasing the Lease after leaseDuration.
	leaseDuration    time.Duration
	renewDeadline    time.Duration
	retryPeriod      time.Duration
	namespace        string
	clientQPS        float64
	clientBurst      int
	reconcileEvery   time.Duration
	unreachableAfter time.Duration
	zap              zap.Options

	// tasksAPI is how the MesosTasks are served as tasks.mesos.k8sm.io (internal/taskapi).
	tasksAPIAddr    string
	tasksAPICertDir string
	tasksAPIService string
	tasksAPISecret  string
	// taskStorage is where the MesosTasks are kept: the API server (the CRD) or the
	// leader's memory alone (taskstore.InMemory).
	taskStorage string

	// skipNameValidation lets tests build several managers in one process.
	skipNameValidation bool
}

func (o *options) bind(fs *flag.FlagSet) {
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", "0", "Address the metrics endpoint binds to, e.g. :8443 (https) or, with --metrics-secure=false, 127.0.0.1:8080 (http, loopback only); 0 turns it off.")
	fs.BoolVar(&o.secureMetrics, "metrics-secure", true, "Serve metrics over https with authentication and authorization (false: plain http, on a loopback address only).")
	fs.StringVar(&o.metricsCertDir, "metrics-cert-dir", "", "Directory with the metrics server's tls.crt and tls.key (reloaded when they change); empty: a self-signed certificate.")
	fs.BoolVar(&o.enableHTTP2, "enable-http2", false, "Allow HTTP/2 on the metrics server (off by default against HTTP/2 stream attacks).")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address the /healthz and /readyz probes bind to.")
	fs.StringVar(&o.pprofAddr, "pprof-bind-address", "", "Address Go's /debug/pprof endpoints bind to, for profiling (empty: off; a loopback address only).")
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "Elect a leader so that only one replica drives the Mesos frameworks.")
	fs.StringVar(&o.leaderElectionID, "leader-election-id", "k8sm.mesos.k8sm.io", "Name of the Lease used for leader election.")
	fs.StringVar(&o.leaderElectionNS, "leader-election-namespace", "", "Namespace of the leader election Lease (default: the manager's own namespace, as --namespace says).")
	fs.DurationVar(&o.leaseDuration, "leader-election-lease-duration", defaultLeaseDuration, "How long a standby waits before it takes over a leader that stopped renewing the Lease (one killed without releasing it).")
	fs.DurationVar(&o.renewDeadline, "leader-election-renew-deadline", defaultRenewDeadline, "How long the leader keeps trying to renew the Lease before it gives up leading; less than the lease duration.")
	fs.DurationVar(&o.retryPeriod, "leader-election-retry-period", defaultRetryPeriod, "How often the replicas try to take or renew the Lease.")
	fs.StringVar(&o.namespace, "namespace", "", "The manager's own namespace, the only one it reads Secrets from (default: its service account's namespace in a cluster, else "+defaultNamespace+").")
	fs.Float64Var(&o.clientQPS, "kube-api-qps", 500, "Queries per second the manager may send to the Kubernetes API.")
	fs.IntVar(&o.clientBurst, "kube-api-burst", 1000, "Burst of queries the manager may send to the Kubernetes API.")
	fs.DurationVar(&o.reconcileEvery, "task-reconcile-interval", 15*time.Minute, "How often tasks are reconciled with Mesos besides after every subscription.")
	fs.DurationVar(&o.unreachableAfter, "unreachable-timeout", 5*time.Minute, "How long a task may stay unreachable before its pod is Failed with reason NodeLost.")
	fs.StringVar(&o.tasksAPIAddr, "tasks-api-bind-address", "0", "Address the MesosTasks API (tasks.mesos.k8sm.io, kube-apiserver's APIService) binds to, e.g. :9443; 0 turns it off.")
	fs.StringVar(&o.tasksAPICertDir, "tasks-api-cert-dir", "", "Directory with the MesosTasks API's serving certificate: tls.crt and tls.key, or apiserver.crt and apiserver.key (reloaded when they change); empty: the manager makes one, kept in --tasks-api-secret, and sets the APIService's CA bundle.")
	fs.StringVar(&o.tasksAPIService, "tasks-api-service", "k8sm-tasks-api", "Name of the Service, in the manager's namespace, the MesosTasks API's APIService names (the certificate the manager makes is for it).")
	fs.StringVar(&o.tasksAPISecret, "tasks-api-secret", "k8sm-tasks-api-cert", "Name of the Secret, in the manager's namespace, that keeps the MesosTasks API's certificate the manager makes.")
	fs.StringVar(&o.taskStorage, "mesostask-storage", storageAPIServer, "Where MesosTasks are kept: "+storageAPIServer+" (the MesosTask CRD, in etcd) or "+storageMemory+" (the leading manager's memory alone, served by the MesosTasks API only, made again from the pods and Mesos by each new leader: no API server write per task; needs --tasks-api-bind-address and the install without the CRD, config/tasks-in-memory).")
	o.zap = zap.Options{Development: false}
	o.zap.BindFlags(fs)
}

// newScheme holds every type the manager reads or writes.
func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(mesosv1alpha1.AddToScheme(s))
	return s
}

// newManager builds the controller-runtime manager with its probes and controllers.
func newManager(cfg *rest.Config, o options) (ctrl.Manager, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS = float32(o.clientQPS)
	cfg.Burst = o.clientBurst

	metricsOpts, err := metricsOptions(o)
	if err != nil {
		return nil, err
	}
	if o.pprofAddr != "" {
		if err := requireLoopback("--pprof-bind-address", o.pprofAddr); err != nil {
			return nil, err
		}
	}

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        newScheme(),
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        o.probeAddr,
		PprofBindAddress:              o.pprofAddr,
		LeaderElection:                o.leaderElect,
		LeaderElectionID:              o.leaderElectionID,
		LeaderElectionNamespace:       leaseNamespace(o, serviceAccountNamespaceFile),
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &o.leaseDuration,
		RenewDeadline:                 &o.renewDeadline,
		RetryPeriod:                   &o.retryPeriod,
		Controller:                    config.Controller{SkipNameValidation: &o.skipNameValidation},
		Cache:                         controllers.CacheOptions(),
	})
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	ns := managerNamespace(o.namespace, serviceAccountNamespaceFile)
	ctrl.Log.WithName("setup").Info("Reading Secrets from the manager's namespace only", "namespace", ns)
	recorders, err := newEventRecorders(mgr, cfg)
	if err != nil {
		return nil, err
	}
	r, err := controllers.Setup(mgr, controllers.Options{
		Recorder:           recorders.For,
		ReconcileInterval:  o.reconcileEvery,
		UnreachableTimeout: o.unreachableAfter,
		SecretNamespace:    ns,
		TasksInMemory:      o.taskStorage == storageMemory,
	})
	if err != nil {
		return nil, err
	}
	if o.tasksAPIAddr != "0" {
		if err := taskapi.Add(mgr, r.Store, taskapi.Options{Addr: o.tasksAPIAddr, CertDir: o.tasksAPICertDir,
			Namespace: ns, Service: o.tasksAPIService, Secret: o.tasksAPISecret,
			LeaderOnly: o.taskStorage == storageMemory, Pod: os.Getenv("POD_NAME"), Leading: r.Leading}); err != nil {
			return nil, fmt.Errorf("serving the MesosTasks API: %w", err)
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", cachesSynced(mgr.GetCache())); err != nil {
		return nil, fmt.Errorf("adding the ready check: %w", err)
	}
	return mgr, nil
}

// cachesSynced is ready once the manager's caches hold what the API server holds: a
// standby replica is then warm, and takes over without listing every pod first.
func cachesSynced(c cache.Cache) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !c.WaitForCacheSync(ctx) {
			return errors.New("the caches have not synced yet")
		}
		return nil
	}
}

// checkLeaderElection refuses leader election timings the election cannot keep, naming
// the flags, before the manager starts (client-go would refuse them only then, without
// naming them).
func (o *options) checkLeaderElection() error {
	if !o.leaderElect {
		return nil
	}
	switch {
	case o.retryPeriod <= 0:
		return fmt.Errorf("--leader-election-retry-period must be positive, not %s", o.retryPeriod)
	case float64(o.renewDeadline) <= 1.2*float64(o.retryPeriod):
		return fmt.Errorf("--leader-election-renew-deadline (%s) must be longer than 1.2 × --leader-election-retry-period (%s): a leader tries to renew every retry period, with up to 20%% jitter", o.renewDeadline, o.retryPeriod)
	case o.leaseDuration <= o.renewDeadline:
		return fmt.Errorf("--leader-election-lease-duration (%s) must be longer than --leader-election-renew-deadline (%s): a leader must give up before a standby may take over", o.leaseDuration, o.renewDeadline)
	}
	return nil
}

// checkDurations refuses the durations a manager cannot take for what they say: a
// negative --unreachable-timeout would fail every unreachable pod NodeLost at once, and
// zero meant the default without saying so.
func (o *options) checkDurations() error {
	switch {
	case o.unreachableAfter <= 0:
		return fmt.Errorf("--unreachable-timeout must be positive, not %s", o.unreachableAfter)
	case o.reconcileEvery <= 0:
		return fmt.Errorf("--task-reconcile-interval must be positive, not %s", o.reconcileEvery)
	}
	return nil
}

// The values of --mesostask-storage.
const (
	storageAPIServer = "api-server"
	storageMemory    = "memory"
)

// checkStorage refuses a --mesostask-storage the manager does not know, and MesosTasks
// in memory with no API to serve them: nobody could read them.
func (o *options) checkStorage() error {
	switch {
	case o.taskStorage != storageAPIServer && o.taskStorage != storageMemory:
		return fmt.Errorf("--mesostask-storage must be %s or %s, not %q", storageAPIServer, storageMemory, o.taskStorage)
	case o.taskStorage == storageMemory && o.tasksAPIAddr == "0":
		return fmt.Errorf("--mesostask-storage=%s needs --tasks-api-bind-address: the MesosTasks are then served by the manager alone", storageMemory)
	}
	return nil
}

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	o.bind(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := o.checkLeaderElection(); err != nil {
		return err
	}
	if err := o.checkDurations(); err != nil {
		return err
	}
	if err := o.checkStorage(); err != nil {
		return err
	}
	// Each reconcile's logger gets its values only when it writes a line (lazylog).
	ctrl.SetLogger(lazylog.Wrap(zap.New(zap.UseFlagOptions(&o.zap))))
	log := ctrl.Log.WithName("setup")
	setMemoryLimit(log, os.DirFS("/"))

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("finding the Kubernetes API (set KUBECONFIG or run in a cluster): %w", err)
	}
	mgr, err := newManager(cfg, o)
	if err != nil {
		return err
	}
	log.Info("Starting the manager", "leaderElection", o.leaderElect, "probes", o.probeAddr, "metrics", o.metricsAddr, "mesostaskStorage", o.taskStorage)
	return mgr.Start(ctx)
}

func main() {
	if err := run(ctrl.SetupSignalHandler(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}
