package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentmsg"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/servingcert"
	"github.com/k8sm/k8sm/internal/testenv"
)

// The executors' serving certificates from the cluster's kubernetes.io/kubelet-serving
// signer: a real kube-controller-manager runs the csrsigning controller with a CA of the
// spec's; the real executor under mesos-sim asks the manager for a certificate, the
// manager files and approves a CertificateSigningRequest, kube-controller-manager signs
// it, and the executor serves it: a client that verifies the executor against the
// signer's CA, as an API server with --kubelet-certificate-authority does, gets /pods.
// A request beyond the agent's own Node, sent as the executor, is refused.
var _ = Describe("Serving certificates from the cluster's kubelet-serving signer", Ordered, func() {
	var (
		signer   *kubeletClientCA
		clientCA *kubeletClientCA
		mc       *mesosv1alpha1.MesosCluster
		node     string
		port     int
	)
	BeforeAll(func() {
		if _, err := testenv.ControllerManagerBinary(); err != nil && !testenv.RequireControllerManager() {
			Skip(err.Error())
		}
		signer = newSignerCA()
		dir := GinkgoT().TempDir()
		keyPEM, err := signer.KeyPEM()
		Expect(err).NotTo(HaveOccurred())
		certFile, keyFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
		Expect(os.WriteFile(certFile, signer.CertPEM, 0o600)).To(Succeed())
		Expect(os.WriteFile(keyFile, keyPEM, 0o600)).To(Succeed())
		kcm, err := testenv.StartKubeletServingSigner(testEnv, certFile, keyFile)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(kcm.Stop)

		By("running a pod, which starts the executor, on a cluster whose executors ask for the signer's certificates")
		sim := startExecSim()
		ns := newNamespace()
		mc, clientCA, port = kubeletAPICluster(sim, ns, func(mc *mesosv1alpha1.MesosCluster) {
			mc.Spec.KubeletAPI.ServingCertificate = mesosv1alpha1.ServingCertificateKubeletServingSigner
		})
		pod := newPod(ns, "verified", mc.Spec.SchedulerName, "100m")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(pod)), 60*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		node = agentNodeOf(mc, "agent-1")
	})

	It("serves the executor a certificate of the signer for its Node's names, which verifies as the API server verifies kubelets", func() {
		user := "kube-apiserver-kubelet-client-" + mc.Name
		bindKubeletAPIAdmin(user)

		By("verifying the executor against the signer's CA by the agent Node's hostname; its IP, loopback, is not named")
		Eventually(func() error { _, err := verifiedLeaf(signer, port, "agent-1"); return err }, 60*time.Second, 200*time.Millisecond).Should(Succeed())
		leaf, err := verifiedLeaf(signer, port, "agent-1")
		Expect(err).NotTo(HaveOccurred())
		Expect(leaf.Subject.CommonName).To(Equal("system:node:" + node))
		Expect(leaf.Subject.Organization).To(Equal([]string{"system:nodes"}))
		Expect(leaf.Issuer.CommonName).To(Equal("kubelet-serving-signer"))
		Expect(leaf.DNSNames).To(Equal([]string{"agent-1"}))
		Expect(leaf.IPAddresses).To(BeEmpty())

		By("calling /pods as an API server with --kubelet-certificate-authority")
		url := fmt.Sprintf("https://127.0.0.1:%d/pods", port)
		Expect(getStatus(verifyingClient(clientCA, signer, user, "agent-1"), url)).To(And(HavePrefix("200 "), ContainSubstring(`"name":"verified"`)))

		By("leaving no CertificateSigningRequest behind, and telling the Node")
		Eventually(clusterCSRs(mc), 10*time.Second, 100*time.Millisecond).Should(BeEmpty())
		Eventually(nodeEvents(node), 10*time.Second, 100*time.Millisecond).Should(ContainElement(HavePrefix("Normal ServingCertificateIssued")))
	})

	It("refuses a request, sent as the executor, for another Node or names not the agent's, and files nothing", func() {
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(mc), mc)).To(Succeed())
		d := clusterReconciler.Registry.Driver(mc.Name)
		s := clusterReconciler.Registry.Scheduler(mc.Name)
		Expect(d).NotTo(BeNil())
		Expect(s).NotTo(BeNil())
		agentID := ""
		for id, a := range d.Status().Agents {
			if a.Hostname == "agent-1" {
				agentID = id
			}
		}
		Expect(agentID).NotTo(BeEmpty())
		before, err := verifiedLeaf(signer, port, "agent-1")
		Expect(err).NotTo(HaveOccurred())

		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		Expect(err).NotTo(HaveOccurred())
		otherNode := agentnode.NodeName(mc.Name, "agent-2", 0)
		forged := map[string][]byte{}
		forged["another Node"], err = servingcert.NewRequest(key, otherNode, servingcert.AgentNames("agent-1", "127.0.0.1"))
		Expect(err).NotTo(HaveOccurred())
		forged["the API server's name"], err = servingcert.NewRequest(key, node, servingcert.Names{DNS: []string{"kubernetes.default.svc"}})
		Expect(err).NotTo(HaveOccurred())
		forged["the agent's loopback address"], err = servingcert.NewRequest(key, node, servingcert.Names{IPs: []net.IP{net.ParseIP("127.0.0.1")}})
		Expect(err).NotTo(HaveOccurred())
		for what, req := range forged {
			By("sending as the executor of agent-1 a request for " + what)
			b, err := agentmsg.Encode(&agentmsg.Message{Kind: agentmsg.KindServingCSR, ID: "forged", ServingCSR: &agentmsg.ServingCSR{Request: string(req)}})
			Expect(err).NotTo(HaveOccurred())
			s.Message(ctx, d, agentID, mc.Status.ExecutorID, b)
		}

		By("telling the Node why, filing nothing, and serving the certificate the executor had")
		Eventually(nodeEvents(node), 10*time.Second, 100*time.Millisecond).Should(ContainElement(And(
			HavePrefix("Warning ServingCertificateRefused"), Or(ContainSubstring(`"system:node:`+otherNode+`" is not`), ContainSubstring(`"kubernetes.default.svc" is not the agent's`),
				ContainSubstring("127.0.0.1 is a loopback address")))))
		Consistently(clusterCSRs(mc), 3*time.Second, 50*time.Millisecond).Should(BeEmpty())
		for _, req := range forged {
			err := k8sClient.Get(ctx, client.ObjectKey{Name: servingcert.ObjectName(mc.Name, node, req)}, &certificatesv1.CertificateSigningRequest{})
			Expect(apierrors.IsNotFound(err)).To(BeTrue(), "a forged request was filed")
		}
		after, err := verifiedLeaf(signer, port, "agent-1")
		Expect(err).NotTo(HaveOccurred())
		Expect(after.SerialNumber).To(Equal(before.SerialNumber))
	})
})

// newSignerCA is the CA of the cluster's kubelet-serving signer, for a spec.
func newSignerCA() *kubeletClientCA { return newTestCA("kubelet-serving-signer") }

// roots is a pool of the CA alone.
func (ca *kubeletClientCA) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

// verifiedLeaf is the certificate the executor serves on port, verified against the
// signer's CA for serverName (a DNS name or an IP), as a TLS client verifies it.
func verifiedLeaf(signer *kubeletClientCA, port int, serverName string) (*x509.Certificate, error) {
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{RootCAs: signer.roots(), ServerName: serverName})
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// verifyingClient presents a client certificate of clientCA for user, and verifies the
// server against signer for serverName: an API server with --kubelet-client-certificate
// and --kubelet-certificate-authority that dials the Node by that name.
func verifyingClient(clientCA, signer *kubeletClientCA, user, serverName string) *http.Client {
	c := clientCA.client(user)
	tr := c.Transport.(*http.Transport)
	tr.TLSClientConfig.InsecureSkipVerify = false
	tr.TLSClientConfig.RootCAs = signer.roots()
	tr.TLSClientConfig.ServerName = serverName
	return c
}

// clusterCSRs lists the names of the CertificateSigningRequests filed for mc.
func clusterCSRs(mc *mesosv1alpha1.MesosCluster) func() ([]string, error) {
	return func() ([]string, error) {
		var list certificatesv1.CertificateSigningRequestList
		if err := k8sClient.List(ctx, &list, client.MatchingLabels{agentnode.LabelCluster: mc.Name}); err != nil {
			return nil, err
		}
		var out []string
		for _, c := range list.Items {
			out = append(out, c.Name)
		}
		return out, nil
	}
}

// nodeEvents lists the events on a Node as "type reason note".
func nodeEvents(node string) func() ([]string, error) { return eventsOn("Node", node) }
