package integration

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/controllers"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/localmetrics"
	"github.com/k8sm/k8sm/internal/testenv"
)

var (
	testEnv   *envtest.Environment
	k8sClient client.WithWatch
	scheme    *runtime.Scheme
	ctx       context.Context
	cancel    context.CancelFunc

	clusterReconciler *controllers.MesosClusterReconciler
	nodeReconciler    *controllers.AgentNodeReconciler
	// managerCache is what the manager's reconcilers read.
	managerCache client.Reader
	// cachedKinds are the kinds the manager's cache was asked to hold (kindsCache).
	cachedKinds = &kindsCache{}
)

// kindsCache is the manager's cache, recording every kind asked of it: for an
// informer, an index, or a read, each of which makes it list and watch the kind.
type kindsCache struct {
	cache.Cache
	mu    sync.Mutex
	kinds map[string]bool
}

func (c *kindsCache) saw(o runtime.Object) {
	gvk, err := apiutil.GVKForObject(o, scheme)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kinds == nil {
		c.kinds = map[string]bool{}
	}
	c.kinds[strings.TrimSuffix(gvk.Kind, "List")] = true
}

func (c *kindsCache) Seen(kind string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.kinds[kind]
}

func (c *kindsCache) GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error) {
	c.saw(obj)
	return c.Cache.GetInformer(ctx, obj, opts...)
}

func (c *kindsCache) IndexField(ctx context.Context, obj client.Object, field string, fn client.IndexerFunc) error {
	c.saw(obj)
	return c.Cache.IndexField(ctx, obj, field, fn)
}

func (c *kindsCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.saw(obj)
	return c.Cache.Get(ctx, key, obj, opts...)
}

func (c *kindsCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	c.saw(list)
	return c.Cache.List(ctx, list, opts...)
}

func TestControllers(t *testing.T) {
	if testing.Short() {
		t.Skip("the integration suite starts kube-apiserver and etcd (envtest), mesos-sim and the real executor; not in -short (make test-unit)")
	}
	RegisterFailHandler(Fail)
	suite := "Controllers Suite"
	if tasksInMemory {
		suite += ", the MesosTasks in memory"
	}
	RunSpecs(t, suite)
}

// The suite again, with the MesosTasks in the manager's memory (--mesostask-storage=memory),
// in a process of its own (Ginkgo runs a suite once per process): every spec of a pod's
// life, failover and Mesos's answers holds there too, but those of what only a MesosTask
// in the API server does (skipInMemory).
func TestControllersWithTheMesosTasksInMemory(t *testing.T) {
	if testing.Short() || tasksInMemory {
		t.Skip("the integration suite, again (not in -short, nor inside itself)")
	}
	args := []string{"-test.run=^TestControllers$", "-test.count=1", "-test.timeout=30m"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "K8SM_TEST_MESOSTASK_STORAGE=memory")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the suite with the MesosTasks in memory failed: %v\n%s", err, lastLines(out, 400))
	}
	t.Logf("%s", lastLines(out, 3))
}

// lastLines are the last n lines of out.
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())

	var err error
	// kube-apiserver proxies to the manager's MesosTasks API (tasksapi_test.go): the
	// front proxy's CA and client certificate, as for metrics-server.
	testEnv, err = testenv.StartWith(func(env *envtest.Environment) error {
		return localmetrics.ConfigureAPIServer(env.ControlPlane.GetAPIServer().Configure(), GinkgoT().TempDir())
	})
	Expect(err).NotTo(HaveOccurred())

	scheme = runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(mesosv1alpha1.AddToScheme(scheme)).To(Succeed())

	k8sClient, err = client.NewWithWatch(testEnv.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	mgr, err := ctrl.NewManager(testEnv.Config, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  controllers.CacheOptions(),
		NewCache: func(cfg *rest.Config, opts cache.Options) (cache.Cache, error) {
			c, err := cache.New(cfg, opts)
			cachedKinds.Cache = c
			return cachedKinds, err
		},
	})
	Expect(err).NotTo(HaveOccurred())
	managerCache = mgr.GetCache()
	r, err := controllers.Setup(mgr, controllers.Options{
		Recorder:            func(name string) events.EventRecorder { return mgr.GetEventRecorder(name) },
		ReconcileInterval:   time.Second,
		UnreachableTimeout:  2 * time.Second,
		NodeGoneGracePeriod: 3 * time.Second,
		NodeLeaseDuration:   4 * time.Second,
		// The specs make Secrets in their own namespaces; the manager's one-namespace rule
		// is tested with the manager's own RBAC in cmd/manager (rbac_test.go).
		AnySecretNamespace: true,
		DriverOptions: func(c *framework.Config) {
			c.MinBackoff, c.MaxBackoff, c.RequestTimeout = 20*time.Millisecond, 200*time.Millisecond, 2*time.Second
		},
		TasksInMemory: tasksInMemory,
	})
	Expect(err).NotTo(HaveOccurred())
	if tasksInMemory {
		k8sClient = inStore(k8sClient, r.Store)
	}
	clusterReconciler, nodeReconciler = r.Cluster, r.Node
	serveTasksAPI(mgr, r.Store)
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

var _ = AfterSuite(func() {
	// The Store holds the MesosTasks (taskstore): nothing of the manager's reads them
	// through the cache, which would list and watch them whole.
	Expect(cachedKinds.Seen("MesosTask")).To(BeFalse(), "the manager's cache was asked for MesosTasks")
	Expect(cachedKinds.Seen("Pod")).To(BeTrue(), "the record of the cache's kinds saw nothing")
	cancel()
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})
