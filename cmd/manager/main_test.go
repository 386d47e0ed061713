package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/localmetrics"
	"github.com/k8sm/k8sm/internal/mesossim"
	"github.com/k8sm/k8sm/internal/testenv"
)

func TestManager(t *testing.T) {
	if testing.Short() {
		t.Skip("the manager suite starts kube-apiserver and etcd (envtest); not in -short (make test-unit)")
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "Manager Suite")
}

var testEnv *envtest.Environment

var _ = BeforeSuite(func() {
	var err error
	testEnv, err = testenv.New()
	Expect(err).NotTo(HaveOccurred())
	// OpenShift's admission plugin, off in a plain kube-apiserver: setting
	// blockOwnerDeletion needs update on the owner's finalizers. The manager running with
	// its own RBAC (rbac_test.go) shows it has that.
	testEnv.ControlPlane.GetAPIServer().Configure().Append("enable-admission-plugins", "OwnerReferencesPermissionEnforcement")
	// The aggregation layer, for the MesosTasks API (rbac_test.go).
	Expect(localmetrics.ConfigureAPIServer(testEnv.ControlPlane.GetAPIServer().Configure(), GinkgoT().TempDir())).To(Succeed())
	_, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// parseOptions parses manager flags as the binary would.
func parseOptions(args ...string) options {
	var o options
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	o.bind(fs)
	Expect(fs.Parse(args)).To(Succeed())
	o.skipNameValidation = true
	return o
}

// startManager runs the manager, as the envtest administrator, until the spec ends.
func startManager(o options) {
	startManagerAs(testEnv.Config, o)
}

// startManagerAs runs the manager with cfg's credentials until the spec ends, or until
// the stop it returns is called.
func startManagerAs(cfg *rest.Config, o options) (stop func()) {
	mgr, err := newManager(cfg, o)
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			Eventually(done, 30*time.Second).Should(Receive(BeNil()))
		})
	}
	DeferCleanup(stop)
	return stop
}

func statusOf(url string) func() (int, error) {
	return func() (int, error) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err
		}
		defer func() { _ = resp.Body.Close() }()
		return resp.StatusCode, nil
	}
}

var _ = Describe("The manager", func() {
	It("serves /healthz and /readyz against the apiserver", func() {
		probe := freeAddr()
		startManager(parseOptions("--health-probe-bind-address", probe, "--metrics-bind-address", "0"))
		Eventually(statusOf(fmt.Sprintf("http://%s/healthz", probe)), 30*time.Second, 100*time.Millisecond).Should(Equal(http.StatusOK))
		Eventually(statusOf(fmt.Sprintf("http://%s/readyz", probe)), 30*time.Second, 100*time.Millisecond).Should(Equal(http.StatusOK))
	})

	It("takes the leader Lease when leader election is on", func() {
		startManager(parseOptions(
			"--health-probe-bind-address", freeAddr(), "--metrics-bind-address", "0",
			"--leader-elect", "--leader-election-namespace", "default", "--leader-election-id", "k8sm-test-leader"))
		c, err := client.New(testEnv.Config, client.Options{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() (string, error) {
			lease := &coordinationv1.Lease{}
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "k8sm-test-leader"}, lease); err != nil {
				return "", err
			}
			if lease.Spec.HolderIdentity == nil {
				return "", nil
			}
			return *lease.Spec.HolderIdentity, nil
		}, 30*time.Second, 100*time.Millisecond).ShouldNot(BeEmpty())
	})

	It("serves metrics over http when asked", func() {
		metrics := freeAddr()
		startManager(parseOptions("--health-probe-bind-address", freeAddr(), "--metrics-bind-address", metrics, "--metrics-secure=false"))
		Eventually(statusOf(fmt.Sprintf("http://%s/metrics", metrics)), 30*time.Second, 100*time.Millisecond).Should(Equal(http.StatusOK))
	})

	It("records its events in the API", func() {
		sim, err := mesossim.New(mesossim.Config{Agents: 1})
		Expect(err).NotTo(HaveOccurred())
		Expect(sim.Start("127.0.0.1:0")).To(Succeed())
		DeferCleanup(sim.Close)
		startManager(parseOptions("--health-probe-bind-address", freeAddr(), "--metrics-bind-address", "0"))
		c, err := client.New(testEnv.Config, client.Options{Scheme: newScheme()})
		Expect(err).NotTo(HaveOccurred())
		ctx := context.Background()
		mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "events"},
			Spec: mesosv1alpha1.MesosClusterSpec{Master: sim.URL(), Executor: mesosv1alpha1.ExecutorSpec{URI: "/k8sm-executor"}}}
		Expect(c.Create(ctx, mc)).To(Succeed())
		DeferCleanup(func() { _ = c.Delete(ctx, mc) })
		Eventually(func() ([]string, error) {
			var list eventsv1.EventList
			if err := c.List(ctx, &list, client.InNamespace(metav1.NamespaceDefault)); err != nil {
				return nil, err
			}
			var seen []string
			for _, e := range list.Items {
				if e.Regarding.Kind == "MesosCluster" && e.Regarding.Name == mc.Name {
					seen = append(seen, e.ReportingController+"/"+e.Reason)
				}
			}
			return seen, nil
		}, 30*time.Second, 200*time.Millisecond).Should(ContainElement("k8sm-mesoscluster/Subscribed"))
	})

	It("refuses an unknown flag with a clear error", func() {
		err := run(context.Background(), []string{"--no-such-flag"})
		Expect(err).To(MatchError(ContainSubstring("flag provided but not defined: -no-such-flag")))
	})
})
