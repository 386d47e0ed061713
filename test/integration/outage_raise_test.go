package integration

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// A running pod tolerates an outage of the manager as long as Mesos keeps its task (the
// failover timeout). Raising the timeout lengthens the tolerations of the pods running
// already, not only of those created after: an outage longer than the old timeout
// would have them evicted, though Mesos keeps their tasks.
var _ = Describe("Raising a cluster's failover timeout", func() {
	It("lengthens the outage tolerations of its running pods", func() {
		sim := startSim(1, "cpus:2;mem:4096;disk:10000")
		mc := simClusterWith(sim, func(mc *mesosv1alpha1.MesosCluster) {
			mc.Spec.Framework.FailoverTimeout = &metav1.Duration{Duration: time.Hour}
		})
		pod := newPod(newNamespace(), "running", mc.Spec.SchedulerName, "100m")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		key := client.ObjectKeyFromObject(pod)
		unreachable := func() (int64, error) {
			p, err := podOf(key)()
			if err != nil {
				return 0, err
			}
			for _, t := range p.Spec.Tolerations {
				if t.Key == corev1.TaintNodeUnreachable && t.Effect == corev1.TaintEffectNoExecute {
					return ptr.Deref(t.TolerationSeconds, -1), nil
				}
			}
			return 0, nil
		}
		Eventually(podOf(key), 30*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		Eventually(unreachable, 10*time.Second, 100*time.Millisecond).Should(BeEquivalentTo(3600))

		Expect(updateCluster(mc, func(mc *mesosv1alpha1.MesosCluster) {
			mc.Spec.Framework.FailoverTimeout = &metav1.Duration{Duration: 2 * time.Hour}
		})).To(Succeed())
		Eventually(unreachable, 10*time.Second, 100*time.Millisecond).Should(BeEquivalentTo(7200))
	})
})
