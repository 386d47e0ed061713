package integration

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/controllers"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/mesossim"
	"github.com/k8sm/k8sm/internal/pki"
	"github.com/k8sm/k8sm/internal/testenv"
)

// The kubelet API of an agent Node, served by the real k8sm-executor under mesos-sim and
// called as the API server calls a kubelet: over TLS, with a client certificate of the
// CA the MesosCluster names. The envtest API server authorizes with RBAC, so the
// manager's SubjectAccessReviews allow the user bound to system:kubelet-api-admin (as
// kubeadm binds the API server's kubelet client) and deny another.
var _ = Describe("The kubelet API on an agent Node", func() {
	It("serves /pods to the API server's kubelet client, and refuses whom RBAC does not allow and whom it cannot authenticate", func() {
		sim := startExecSim()

		By("naming a client CA and a port in the MesosCluster")
		ns := newNamespace()
		mc, ca, port := kubeletAPICluster(sim, ns)
		Expect(condition(mc, mesosv1alpha1.ConditionDegraded)()).To(HavePrefix("False/"), "the client CA was not taken")

		By("binding the API server's kubelet client user, as kubeadm does")
		allowed, denied := "kube-apiserver-kubelet-client-"+mc.Name, "someone-else-"+mc.Name
		bindKubeletAPIAdmin(allowed)

		By("advertising no port on the agent's Node while no executor runs there")
		node := &corev1.Node{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: agentNodeOf(mc, "agent-1")}, node)).To(Succeed())
		Eventually(func() string {
			_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(node), node)
			if ready := agentnode.ReadyCondition(node); ready != nil {
				return string(ready.Status)
			}
			return ""
		}, 10*time.Second, 100*time.Millisecond).Should(Equal("True"))
		Consistently(func() int32 {
			_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(node), node)
			return node.Status.DaemonEndpoints.KubeletEndpoint.Port
		}, time.Second, 100*time.Millisecond).Should(BeZero())

		By("running a pod there")
		pod := newPod(ns, "listed", mc.Spec.SchedulerName, "100m")
		pod.Spec.Containers[0].Command = []string{"sleep", "3600"}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(pod)), 60*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))

		By("advertising the port on the agent's Node once its executor serves it")
		Eventually(func() int32 {
			_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(node), node)
			return node.Status.DaemonEndpoints.KubeletEndpoint.Port
		}, 10*time.Second, 100*time.Millisecond).Should(Equal(int32(port)))
		// The agent's address as its offers give it, first, as a kubelet lists them.
		Expect(node.Status.Addresses).To(Equal([]corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: "agent-1"}}))

		// The API server would dial 127.0.0.1, the Node's InternalIP, where the executor
		// serves.
		url := fmt.Sprintf("https://127.0.0.1:%d/pods", node.Status.DaemonEndpoints.KubeletEndpoint.Port)
		By("calling /pods as the API server's kubelet client")
		Eventually(func() string { return getStatus(ca.client(allowed), url) }, 30*time.Second, 200*time.Millisecond).Should(
			And(HavePrefix("200 "), ContainSubstring(`"name":"listed"`), ContainSubstring(`"namespace":"`+ns+`"`)))

		By("refusing a user RBAC does not allow, and a request without a certificate")
		Expect(getStatus(ca.client(denied), url)).To(HavePrefix("403 Forbidden (user=" + denied + ", verb=get, resource=nodes, subresource(s)=[pods proxy])"))
		Expect(getStatus(ca.client(""), url)).To(Equal("401 Unauthorized"))
	})
})

// A process that is no executor holding the kubelet API port on the agent's address is
// what makes the API server's kubectl logs and exec meet a 401: the Node's events say so.
var _ = Describe("The kubelet API port held by another process", func() {
	It("is a Warning on the agent's Node, and a Normal event once the executor serves", func() {
		sim := startExecSim()
		// Below the ephemeral range (testenv.FreePort): once the holder lets the port go,
		// an outgoing connection of another test could take it from the executor.
		free, err := testenv.FreePort()
		Expect(err).NotTo(HaveOccurred())
		holder, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", free))
		Expect(err).NotTo(HaveOccurred())
		defer func() { _ = holder.Close() }()
		port := int32(holder.Addr().(*net.TCPAddr).Port)

		ns := newNamespace()
		mc, ca, _ := kubeletAPICluster(sim, ns, func(mc *mesosv1alpha1.MesosCluster) { mc.Spec.KubeletAPI.Port = port })
		pod := newPod(ns, "beside", mc.Spec.SchedulerName, "100m")
		pod.Spec.Containers[0].Command = []string{"sleep", "3600"}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(pod)), 60*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))

		node := agentNodeOf(mc, "agent-1")
		By("warning on the Node while the port is held, and saying the cluster is Degraded")
		Eventually(nodeEvents(node), 30*time.Second, 200*time.Millisecond).Should(ContainElement(And(
			HavePrefix("Warning KubeletAPIPortTaken"), ContainSubstring(holder.Addr().String()), ContainSubstring("spec.kubeletAPI.port"))))
		Eventually(condition(mc, mesosv1alpha1.ConditionDegraded), 10*time.Second, 100*time.Millisecond).Should(
			And(HavePrefix("True/"+controllers.ReasonKubeletAPIPortTaken), ContainSubstring(node)))

		By("advertising no port on the Node meanwhile: the API server would reach the holder")
		Consistently(nodePort(node), time.Second, 100*time.Millisecond).Should(BeZero())

		By("saying so once the executor serves on the freed port, and the cluster is Degraded no more")
		Expect(holder.Close()).To(Succeed())
		Eventually(nodeEvents(node), 30*time.Second, 200*time.Millisecond).Should(ContainElement(HavePrefix("Normal KubeletAPIServing")))
		Eventually(nodePort(node), 10*time.Second, 100*time.Millisecond).Should(Equal(port))
		Eventually(condition(mc, mesosv1alpha1.ConditionDegraded), 10*time.Second, 100*time.Millisecond).Should(HavePrefix("False/"))
		Eventually(func() string { return getStatus(ca.client(""), fmt.Sprintf("https://127.0.0.1:%d/pods", port)) }, 10*time.Second, 200*time.Millisecond).
			Should(Equal("401 Unauthorized"))
	})
})

// nodePort is the kubelet API port the Node advertises (status.daemonEndpoints).
func nodePort(node string) func() (int32, error) {
	return func() (int32, error) {
		n := &corev1.Node{}
		err := k8sClient.Get(ctx, client.ObjectKey{Name: node}, n)
		return n.Status.DaemonEndpoints.KubeletEndpoint.Port, err
	}
}

// kubeletClientCA signs the API server's kubelet client certificates for a spec (or
// stands for the kubelet-serving signer's CA).
type kubeletClientCA struct{ *pki.CA }

func newTestCA(name string) *kubeletClientCA {
	ca, err := pki.NewCA(name, 24*time.Hour)
	Expect(err).NotTo(HaveOccurred())
	return &kubeletClientCA{ca}
}

func newKubeletClientCA() *kubeletClientCA { return newTestCA("kubelet-client-ca") }

// clientPEM is a client certificate for user, and its key.
func (ca *kubeletClientCA) clientPEM(user string) (certPEM, keyPEM []byte) {
	certPEM, keyPEM, err := ca.IssueClient(user, nil, time.Hour)
	Expect(err).NotTo(HaveOccurred())
	return certPEM, keyPEM
}

// client is an HTTPS client with a client certificate for user, none if user is empty.
// It does not verify the executor's self-signed certificate, as an API server without
// --kubelet-certificate-authority does not.
func (ca *kubeletClientCA) client(user string) *http.Client {
	tc := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // as the API server by default
	if user != "" {
		pair, err := tls.X509KeyPair(ca.clientPEM(user))
		Expect(err).NotTo(HaveOccurred())
		tc.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 15 * time.Second}
}

// getStatus is "<code> <body>" of a GET, or the error.
func getStatus(c *http.Client, url string) string {
	resp, err := c.Get(url)
	if err != nil {
		return err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

// kubeletAPICluster makes a MesosCluster on sim whose executors serve the kubelet API on
// a free port, trusting a new client CA (a Secret in ns), with adjust applied, and waits
// until it is Ready.
func kubeletAPICluster(sim *mesossim.Master, ns string, adjust ...func(*mesosv1alpha1.MesosCluster)) (*mesosv1alpha1.MesosCluster, *kubeletClientCA, int) {
	ca := newKubeletClientCA()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kubelet-client-ca"}, Data: map[string][]byte{"ca.crt": ca.CertPEM}}
	Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	port, err := testenv.FreePort()
	Expect(err).NotTo(HaveOccurred())
	mc := minimalCluster()
	mc.Spec.Master = sim.URL()
	mc.Spec.SchedulerName = uniqueSchedulerName()
	mc.Spec.Placement.RefuseSeconds = new(int32)
	mc.Spec.Executor = mesosv1alpha1.ExecutorSpec{URI: executorBinary()}
	mc.Spec.KubeletAPI = mesosv1alpha1.KubeletAPISpec{Port: int32(port),
		ClientCASecretRef: &mesosv1alpha1.SecretKeyRef{Namespace: ns, Name: secret.Name}}
	for _, f := range adjust {
		f(mc)
	}
	createCluster(mc)
	Eventually(condition(mc, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(HavePrefix("True/"))
	return mc, ca, port
}

// bindKubeletAPIAdmin lets user do what the API server's kubelet client does, as kubeadm
// lets it, until the spec ends.
func bindKubeletAPIAdmin(user string) {
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:kubelet-api-admin"},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}}}
	Expect(k8sClient.Create(ctx, binding)).To(Succeed())
	DeferCleanup(func() { _ = k8sClient.Delete(ctx, binding) })
}
