package main

import (
	"context"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/controllers"
	"github.com/k8sm/k8sm/internal/mesossim"
	"github.com/k8sm/k8sm/internal/testenv"
)

// An install that updated the manager and not its CRDs has no OutageToleration kind: the
// manager runs its clusters all the same (the outage tolerations policy is an
// optimization), where waiting for that kind's informer stopped it.
var _ = Describe("The manager without the OutageToleration CRD", func() {
	It("runs its clusters", func() {
		ctx := context.Background()
		const crdName = "outagetolerations.mesos.k8sm.io"
		admin, err := client.New(testEnv.Config, client.Options{Scheme: newScheme()})
		Expect(err).NotTo(HaveOccurred())
		Expect(apiextensionsv1.AddToScheme(admin.Scheme())).To(Succeed())
		crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: crdName}}
		Expect(admin.Delete(ctx, crd)).To(Succeed())
		DeferCleanup(func() {
			_, err := envtest.InstallCRDs(testEnv.Config, envtest.CRDInstallOptions{
				Paths: []string{filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", "mesos.k8sm.io_outagetolerations.yaml")}})
			Expect(err).NotTo(HaveOccurred())
		})
		dc, err := discovery.NewDiscoveryClientForConfig(testEnv.Config)
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() bool {
			list, err := dc.ServerResourcesForGroupVersion(mesosv1alpha1.GroupVersion.String())
			if err != nil {
				return false
			}
			for _, r := range list.APIResources {
				if r.Kind == "OutageToleration" {
					return false
				}
			}
			return apierrors.IsNotFound(admin.Get(ctx, client.ObjectKey{Name: crdName}, &apiextensionsv1.CustomResourceDefinition{}))
		}, 30*time.Second, 100*time.Millisecond).Should(BeTrue(), "the CRD gone from the API")

		sim, err := mesossim.New(mesossim.Config{Agents: 1})
		Expect(err).NotTo(HaveOccurred())
		Expect(sim.Start("127.0.0.1:0")).To(Succeed())
		DeferCleanup(sim.Close)
		startManager(parseOptions("--health-probe-bind-address", freeAddr(), "--metrics-bind-address", "0"))
		mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "without-outage-tolerations"},
			Spec: mesosv1alpha1.MesosClusterSpec{Master: sim.URL(), SchedulerName: "mesos-without-ot", Executor: mesosv1alpha1.ExecutorSpec{URI: "/k8sm-executor"}}}
		Expect(admin.Create(ctx, mc)).To(Succeed())
		DeferCleanup(func() { _ = admin.Delete(ctx, mc) })
		Eventually(readyOf(admin, mc.Name), 30*time.Second, 100*time.Millisecond).Should(HavePrefix("True/" + controllers.ReasonSubscribed))
	})
})
