package integration

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/controllers"
)

// A principal changed between the framework's registration and the first status write
// (no framework id recorded yet, so the CRD lets the change through) is refused by
// Mesos, which never lets a framework change its principal. The status then says to put
// back the principal the framework registered with: the CRD must accept that, though
// the framework id is recorded by then.
var _ = Describe("A framework whose principal changed before its id was recorded", func() {
	It("takes back the principal it registered with", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simClusterWith(sim, func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.Framework.Principal = "k8sm" })
		key := client.ObjectKeyFromObject(mc)
		frameworkID := func() string {
			got := &mesosv1alpha1.MesosCluster{}
			_ = k8sClient.Get(ctx, key, got)
			return got.Status.FrameworkID
		}
		Eventually(frameworkID, 20*time.Second, 50*time.Millisecond).ShouldNot(BeEmpty())
		registered := frameworkID()

		By("changing the principal while the status records no framework yet")
		Eventually(func() error {
			if err := k8sClient.Get(ctx, key, mc); err != nil {
				return err
			}
			mc.Status = mesosv1alpha1.MesosClusterStatus{} // as before the first status write
			if err := k8sClient.Status().Update(ctx, mc); err != nil {
				return err
			}
			mc.Spec.Framework.Principal = "other"
			return k8sClient.Update(ctx, mc) // refused if a pass wrote the status meanwhile
		}, 20*time.Second, 50*time.Millisecond).Should(Succeed())
		Eventually(condition(mc, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(
			HavePrefix("False/" + controllers.ReasonPrincipalChangeRefused))
		Eventually(func() map[string]float64 { return clusterMetrics(mc.Name) }, 5*time.Second, 50*time.Millisecond).Should(
			HaveKey(`k8sm_framework_disconnects_total{reason="` + controllers.ReasonPrincipalChangeRefused + `"}`))
		Eventually(frameworkID, 20*time.Second, 50*time.Millisecond).Should(Equal(registered))

		By("putting back the principal it registered with, as the status says to")
		Expect(updateCluster(mc, func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.Framework.Principal = "k8sm" })).To(Succeed())
		Eventually(condition(mc, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(
			HavePrefix("True/" + controllers.ReasonSubscribed))
		Expect(frameworkID()).To(Equal(registered))
		Expect(sim.State().Frameworks).To(HaveLen(1))

		By("refusing any other principal, as before")
		err := updateCluster(mc, func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.Framework.Principal = "third" })
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("spec.framework.principal cannot change once the framework is registered"))
	})
})
