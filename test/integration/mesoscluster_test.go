package integration

import (
	"encoding/json"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/controllers"
	"github.com/k8sm/k8sm/internal/framework"
)

// unreachableMaster is a loopback address where no master listens (port 1 refuses).
const unreachableMaster = "http://127.0.0.1:1"

var schedulerNames atomic.Int32

var _ = Describe("MesosCluster controller", func() {
	It("adds its finalizer and says when the master cannot be reached", func() {
		mc := minimalCluster()
		mc.Spec.SchedulerName = uniqueSchedulerName()
		createCluster(mc)

		Eventually(condition(mc, mesosv1alpha1.ConditionSubscribed), 20*time.Second, 50*time.Millisecond).Should(And(
			HavePrefix("False/"+framework.ReasonMasterUnreachable+": "), ContainSubstring("127.0.0.1:1")))
		Expect(condition(mc, mesosv1alpha1.ConditionReady)()).To(HavePrefix("False/" + framework.ReasonMasterUnreachable))
		Expect(condition(mc, mesosv1alpha1.ConditionDegraded)()).To(HavePrefix("True/" + framework.ReasonMasterUnreachable))
		Expect(condition(mc, mesosv1alpha1.ConditionReconciled)()).To(HavePrefix("False/" + controllers.ReasonNotSubscribed))

		got := &mesosv1alpha1.MesosCluster{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), got)).To(Succeed())
		Expect(got.Finalizers).To(ContainElement(controllers.FrameworkFinalizer))
	})

	It("records a warning of a subscribed framework as an event", func() {
		sim := startSim(1, "cpus:1;mem:1024;disk:1000")
		mc := simClusterWith(sim, func(mc *mesosv1alpha1.MesosCluster) {
			mc.Spec.Framework.FailoverTimeout = &metav1.Duration{Duration: 30 * time.Second}
		})
		Eventually(condition(mc, mesosv1alpha1.ConditionDegraded), 20*time.Second, 50*time.Millisecond).Should(
			HavePrefix("True/" + controllers.ReasonShortFailoverTimeout))
		Eventually(eventsOn("MesosCluster", mc.Name), 10*time.Second, 100*time.Millisecond).Should(
			ContainElement(HavePrefix("Warning " + controllers.ReasonShortFailoverTimeout + " spec.framework.failoverTimeout is 30s")))
	})

	It("subscribes with credentials over http only when allowed, and then says it is Degraded", func() {
		sim := startSim(1, "cpus:1;mem:1024;disk:1000")
		ns := newNamespace()
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"},
			Data: map[string][]byte{"principal": []byte("k8sm"), "secret": []byte("s3cr3t")}})).To(Succeed())
		mc := minimalCluster()
		mc.Spec.Master = sim.URL()
		mc.Spec.SchedulerName = uniqueSchedulerName()
		mc.Spec.Framework.CredentialsSecretRef = &mesosv1alpha1.SecretKeyRef{Namespace: ns, Name: "creds"}
		mc.Spec.Framework.Principal = "k8sm"
		mc.Spec.Framework.AllowPlaintextCredentials = true
		createCluster(mc)
		Eventually(condition(mc, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(HavePrefix("True/" + controllers.ReasonSubscribed))
		Eventually(condition(mc, mesosv1alpha1.ConditionDegraded), 20*time.Second, 50*time.Millisecond).Should(
			HavePrefix("True/" + controllers.ReasonPlaintextCredentials + ": The framework's credentials travel unencrypted"))

		By("keeping the subscription while the credentials Secret cannot be read")
		creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"}}
		Expect(k8sClient.Delete(ctx, creds)).To(Succeed())
		// Secrets are not watched: a change to the cluster makes it read them again.
		Expect(updateCluster(mc, func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.Placement.Strategy = mesosv1alpha1.PlacementBinpack })).To(Succeed())
		Eventually(condition(mc, mesosv1alpha1.ConditionDegraded), 20*time.Second, 50*time.Millisecond).Should(
			HavePrefix("True/" + controllers.ReasonCredentialsNotFound + ": Secret " + ns + "/creds (framework.credentialsSecretRef) not found: the framework keeps its subscription"))
		// The change is not applied while the subscription runs on what was read before:
		// the status, Subscribed=True, is of the generation before, but Degraded, which
		// says why, of the new one.
		got := &mesosv1alpha1.MesosCluster{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), got)).To(Succeed())
		subscribed := meta.FindStatusCondition(got.Status.Conditions, mesosv1alpha1.ConditionSubscribed)
		Expect(subscribed.Status).To(Equal(metav1.ConditionTrue))
		Expect(subscribed.ObservedGeneration).To(BeNumerically("<", got.Generation))
		Expect(got.Status.ObservedGeneration).To(BeNumerically("<", got.Generation))
		Expect(meta.FindStatusCondition(got.Status.Conditions, mesosv1alpha1.ConditionDegraded).ObservedGeneration).To(Equal(got.Generation))
		Consistently(func() bool {
			st := sim.State()
			return len(st.Frameworks) == 1 && st.Frameworks[0].Connected
		}, 2*time.Second, 100*time.Millisecond).Should(BeTrue(), "the framework stays connected to the master")

		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"},
			Data: map[string][]byte{"principal": []byte("k8sm"), "secret": []byte("s3cr3t")}})).To(Succeed())
		Eventually(condition(mc, mesosv1alpha1.ConditionDegraded), 20*time.Second, 50*time.Millisecond).Should(
			HavePrefix("True/" + controllers.ReasonPlaintextCredentials))
		Eventually(func() bool {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), got)).To(Succeed())
			return got.Status.ObservedGeneration == got.Generation
		}, 20*time.Second, 50*time.Millisecond).Should(BeTrue(), "the status is of the new generation once the Secret is read")
	})

	It("says which credentials Secret is missing, then which key, and never shows the secret", func() {
		ns := newNamespace()
		mc := minimalCluster()
		mc.Spec.SchedulerName = uniqueSchedulerName()
		mc.Spec.Framework.Principal = "k8sm"
		mc.Spec.Framework.CredentialsSecretRef = &mesosv1alpha1.SecretKeyRef{Namespace: ns, Name: "creds"}
		createCluster(mc)

		Eventually(condition(mc, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(Equal(
			"False/" + controllers.ReasonCredentialsNotFound + ": Secret " + ns + "/creds (framework.credentialsSecretRef) not found"))
		Expect(condition(mc, mesosv1alpha1.ConditionDegraded)()).To(HavePrefix("True/" + controllers.ReasonCredentialsNotFound))
		// No driver runs, and an alert on the subscription still finds it 0.
		Expect(clusterMetrics(mc.Name)).To(HaveKeyWithValue("k8sm_framework_subscribed", 0.0))

		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"},
			Data:       map[string][]byte{"principal": []byte("k8sm"), "password": []byte("s3cr3t-value")},
		}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		// Secrets are not watched: a change to the cluster (or the periodic resync) picks it up.
		Expect(updateCluster(mc, func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.Placement.Strategy = mesosv1alpha1.PlacementBinpack })).To(Succeed())
		Eventually(condition(mc, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(Equal(
			"False/" + controllers.ReasonCredentialsInvalid + ": Secret " + ns + "/creds (framework.credentialsSecretRef) has no key \"secret\""))

		secret.Data["secret"] = []byte("s3cr3t-value")
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		Expect(updateCluster(mc, func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.Placement.Strategy = mesosv1alpha1.PlacementSpread })).To(Succeed())
		// The master is http://: the credentials would travel unencrypted.
		Eventually(condition(mc, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(
			HavePrefix("False/" + controllers.ReasonCredentialsNeedTLS + ": The framework's credentials would travel unencrypted to " + unreachableMaster))

		Expect(updateCluster(mc, func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.Framework.AllowPlaintextCredentials = true })).To(Succeed())
		Eventually(condition(mc, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(
			HavePrefix("False/" + framework.ReasonMasterUnreachable))

		got := &mesosv1alpha1.MesosCluster{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), got)).To(Succeed())
		raw, err := json.Marshal(got)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(raw)).NotTo(ContainSubstring("s3cr3t-value"))
	})

	It("says when the CA Secret holds no certificate", func() {
		ns := newNamespace()
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ca"},
			Data:       map[string][]byte{"ca.crt": []byte("not a certificate")},
		})).To(Succeed())
		mc := minimalCluster()
		mc.Spec.SchedulerName = uniqueSchedulerName()
		mc.Spec.Master = "https://127.0.0.1:1"
		mc.Spec.TLS = &mesosv1alpha1.TLSSpec{CASecretRef: &mesosv1alpha1.SecretKeyRef{Namespace: ns, Name: "ca"}}
		createCluster(mc)
		Eventually(condition(mc, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(Equal(
			"False/" + controllers.ReasonCAInvalid + ": Secret " + ns + "/ca (tls.caSecretRef) has no PEM certificate under key \"ca.crt\""))
	})

	It("refuses a second cluster with the same schedulerName until the first goes", func() {
		name := uniqueSchedulerName()
		first := minimalCluster()
		first.Spec.SchedulerName = name
		Expect(k8sClient.Create(ctx, first)).To(Succeed())
		Eventually(condition(first, mesosv1alpha1.ConditionSubscribed), 20*time.Second, 50*time.Millisecond).Should(
			HavePrefix("False/" + framework.ReasonMasterUnreachable))

		second := minimalCluster()
		second.Spec.SchedulerName = name
		createCluster(second)
		Eventually(condition(second, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(Equal(
			"False/" + controllers.ReasonSchedulerNameConflict + ": MesosCluster \"" + first.Name + "\" already uses schedulerName \"" + name + "\", and a schedulerName cannot be changed: " +
				"delete this MesosCluster and create it again with another schedulerName (it has no framework yet: nothing is torn down)"))
		// The way out is a new cluster: the name cannot be changed in place.
		Expect(updateCluster(second, func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.SchedulerName = uniqueSchedulerName() })).To(
			MatchError(ContainSubstring("schedulerName is immutable")))
		Expect(condition(second, mesosv1alpha1.ConditionDegraded)()).To(HavePrefix("True/" + controllers.ReasonSchedulerNameConflict))
		Expect(condition(first, mesosv1alpha1.ConditionReady)()).NotTo(ContainSubstring(controllers.ReasonSchedulerNameConflict))
		// Only the first gives the outage tolerations policy its parameter.
		outageToleration := func(mc *mesosv1alpha1.MesosCluster) func() error {
			return func() error {
				return k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), &mesosv1alpha1.OutageToleration{})
			}
		}
		Eventually(outageToleration(first)).Should(Succeed())
		Expect(apierrors.IsNotFound(outageToleration(second)())).To(BeTrue(), "the second cluster's OutageToleration")

		Expect(k8sClient.Delete(ctx, first)).To(Succeed())
		Eventually(condition(second, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(
			HavePrefix("False/" + framework.ReasonMasterUnreachable))
		Eventually(outageToleration(first)).ShouldNot(Succeed(), "the first cluster's OutageToleration goes with it")
		Eventually(outageToleration(second)).Should(Succeed())
	})

	It("lets an Orphan cluster go at once, and a Teardown cluster that never subscribed", func() {
		for _, policy := range []mesosv1alpha1.DeletionPolicy{mesosv1alpha1.DeletionOrphan, mesosv1alpha1.DeletionTeardown} {
			mc := minimalCluster()
			mc.Spec.SchedulerName = uniqueSchedulerName()
			mc.Spec.DeletionPolicy = policy
			Expect(k8sClient.Create(ctx, mc)).To(Succeed())
			Eventually(func() []string {
				got := &mesosv1alpha1.MesosCluster{}
				_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), got)
				return got.Finalizers
			}, 20*time.Second, 50*time.Millisecond).Should(ContainElement(controllers.FrameworkFinalizer))
			Expect(k8sClient.Delete(ctx, mc)).To(Succeed())
			Eventually(func() bool {
				return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), &mesosv1alpha1.MesosCluster{}))
			}, 20*time.Second, 50*time.Millisecond).Should(BeTrue(), "policy %s", policy)
			Eventually(func() *framework.Driver { return clusterReconciler.Driver(mc.Name) }).Should(BeNil())
		}
	})
})
