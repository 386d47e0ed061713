package integration

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/controllers"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/mesossim"
)

// A master that authenticates frameworks and operators (Mesos's --credentials with
// --authenticate_http_frameworks and --authenticate_http_readwrite, HTTP basic).
var _ = Describe("A master that asks for credentials", func() {
	var sim *mesossim.Master
	BeforeEach(func() {
		var err error
		sim, err = mesossim.New(mesossim.Config{
			Agents: 1, AgentResources: "cpus:1;mem:1024;disk:1000",
			HeartbeatInterval: time.Second, AllocationInterval: 100 * time.Millisecond, UpdateRetry: time.Second,
			Credentials:                map[string]string{"k8sm": "s3cr3t", "ops": "0ps"},
			AuthenticateHTTPFrameworks: true, AuthenticateHTTPReadWrite: true,
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(sim.Start("127.0.0.1:0")).To(Succeed())
		DeferCleanup(sim.Close)
	})

	// credentialsCluster makes a Secret of principal and secret and a cluster of the sim
	// that authenticates with it, as principal frameworkPrincipal.
	credentialsCluster := func(principal, secret, frameworkPrincipal string) (*mesosv1alpha1.MesosCluster, *corev1.Secret) {
		ns := newNamespace()
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"},
			Data: map[string][]byte{"principal": []byte(principal), "secret": []byte(secret)}}
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		mc := minimalCluster()
		mc.Spec.Master = sim.URL()
		mc.Spec.SchedulerName = uniqueSchedulerName()
		freeKubeletPort(mc)
		mc.Spec.Framework.CredentialsSecretRef = &mesosv1alpha1.SecretKeyRef{Namespace: ns, Name: "creds"}
		mc.Spec.Framework.Principal = frameworkPrincipal
		mc.Spec.Framework.AllowPlaintextCredentials = true
		createCluster(mc)
		return mc, s
	}

	It("subscribes with the credentials of its Secret, and lists the agents with them", func() {
		mc, _ := credentialsCluster("k8sm", "s3cr3t", "k8sm")
		Eventually(condition(mc, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(HavePrefix("True/" + controllers.ReasonSubscribed))
		// GET_AGENTS answered (else Degraded would say AgentsNotListed): only the
		// plaintext credentials are left to say.
		Eventually(condition(mc, mesosv1alpha1.ConditionDegraded), 20*time.Second, 50*time.Millisecond).Should(
			HavePrefix("True/" + controllers.ReasonPlaintextCredentials))
		Eventually(func() bool {
			d := clusterReconciler.Registry.Driver(mc.Name)
			return d != nil && d.Status().AgentsListed
		}, 20*time.Second, 50*time.Millisecond).Should(BeTrue())
		Expect(sim.State().Frameworks).To(ConsistOf(HaveField("Connected", true)))
	})

	It("says AuthenticationFailed for a wrong secret, and subscribes once the Secret is right", func() {
		mc, secret := credentialsCluster("k8sm", "wrong", "k8sm")
		Eventually(condition(mc, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(
			HavePrefix("False/" + framework.ReasonAuthenticationFailed + ": "))
		Expect(condition(mc, mesosv1alpha1.ConditionDegraded)()).To(HavePrefix("True/" + framework.ReasonAuthenticationFailed))
		Expect(condition(mc, mesosv1alpha1.ConditionSubscribed)()).To(ContainSubstring("refused the framework's credentials"))
		Expect(condition(mc, mesosv1alpha1.ConditionReady)()).NotTo(ContainSubstring("wrong"), "the secret is never shown")
		Expect(sim.State().Frameworks).To(BeEmpty())

		secret.Data["secret"] = []byte("s3cr3t")
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		// Secrets are not watched: a change to the cluster makes it read them again.
		Expect(updateCluster(mc, func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.Placement.Strategy = mesosv1alpha1.PlacementBinpack })).To(Succeed())
		Eventually(condition(mc, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(HavePrefix("True/" + controllers.ReasonSubscribed))
	})

	It("says so when the Secret's principal is not the framework's", func() {
		mc, _ := credentialsCluster("ops", "0ps", "k8sm")
		Eventually(condition(mc, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(
			HavePrefix("False/" + controllers.ReasonCredentialsInvalid + ": "))
		Expect(condition(mc, mesosv1alpha1.ConditionReady)()).To(And(
			ContainSubstring(`holds the credentials of another principal than spec.framework.principal ("k8sm")`),
			Not(ContainSubstring("ops"))), "what the Secret holds is not shown")
		Expect(sim.State().Frameworks).To(BeEmpty())
	})
})

// An agent that authenticates its executors (Mesos's --authenticate_http_executors): it
// answers 401 to any executor call without the token it put in the executor's
// environment, and would destroy an executor that never subscribes.
var _ = Describe("An agent that authenticates its executors", func() {
	It("runs pods: the executor calls with the token the agent gave it", func() {
		sim := startExecSim(func(c *mesossim.Config) { c.AuthenticateHTTPExecutors = true })
		mc := simClusterWith(sim, func(mc *mesosv1alpha1.MesosCluster) {
			mc.Spec.Executor = mesosv1alpha1.ExecutorSpec{URI: executorBinary(), Command: "./k8sm-executor"}
		})
		pod := newPod(newNamespace(), "authenticated", mc.Spec.SchedulerName, "100m")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(pod)), 60*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
	})
})
