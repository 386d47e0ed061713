package integration

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/testenv"
)

// The process runtime's pods through the kubelet API of their agent Node, served by the
// real k8sm-executor under mesos-sim, called as the API server calls a kubelet: their
// logs, and exec with client-go's SPDY client.
var _ = Describe("The kubelet API on an agent Node, for the process runtime's pods", func() {
	It("serves a container's log and runs commands in it as the container", func() {
		executorBin := executorBinary()
		sim := startExecSim()

		ns := newNamespace()
		ca := newKubeletClientCA()
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kubelet-client-ca"}, Data: map[string][]byte{"ca.crt": ca.pem}}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		port, err := testenv.FreePort()
		Expect(err).NotTo(HaveOccurred())
		mc := minimalCluster()
		mc.Spec.Master = sim.URL()
		mc.Spec.SchedulerName = uniqueSchedulerName()
		mc.Spec.Placement.RefuseSeconds = new(int32)
		mc.Spec.Executor = mesosv1alpha1.ExecutorSpec{URI: executorBin}
		mc.Spec.KubeletAPI = mesosv1alpha1.KubeletAPISpec{Port: int32(port),
			ClientCASecretRef: &mesosv1alpha1.SecretKeyRef{Namespace: ns, Name: secret.Name}}
		createCluster(mc)
		Eventually(condition(mc, mesosv1alpha1.ConditionReady), 20*time.Second, 50*time.Millisecond).Should(HavePrefix("True/"))
		user := "kube-apiserver-kubelet-client-" + mc.Name
		binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:kubelet-api-admin"},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}}}
		Expect(k8sClient.Create(ctx, binding)).To(Succeed())
		DeferCleanup(func() { _ = k8sClient.Delete(ctx, binding) })

		By("running a pod that writes its uid")
		pod := newPod(ns, "talker", mc.Spec.SchedulerName, "100m")
		pod.Spec.Containers[0].Command = []string{"sh", "-c", "echo hello from Mesos; id -u; exec sleep 3600"}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(pod)), 60*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		c := pod.Spec.Containers[0].Name
		base := fmt.Sprintf("https://127.0.0.1:%d", port)

		By("reading its log, whole and its last line")
		logs := fmt.Sprintf("%s/containerLogs/%s/%s/%s", base, ns, pod.Name, c)
		var uid string
		Eventually(func() string {
			s := getStatus(ca.client(user), logs)
			if lines := strings.Split(s, "\n"); len(lines) == 3 {
				uid = lines[1]
			}
			return s
		}, 30*time.Second, 200*time.Millisecond).Should(MatchRegexp(`^200 hello from Mesos\n\d+\n$`))
		Expect(getStatus(ca.client(user), logs+"?tailLines=1")).To(Equal("200 " + uid + "\n"))

		By("running id -u in it through client-go's SPDY executor")
		cfg := ca.restConfig(user, base)
		u, err := url.Parse(fmt.Sprintf("%s/exec/%s/%s/%s?command=id&command=-u&output=1&error=1", base, ns, pod.Name, c))
		Expect(err).NotTo(HaveOccurred())
		ex, err := remotecommand.NewSPDYExecutor(cfg, "POST", u)
		Expect(err).NotTo(HaveOccurred())
		var stdout, stderr bytes.Buffer
		Expect(ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})).To(Succeed(), "stderr: %s", stderr.String())
		Expect(stdout.String()).To(Equal(uid + "\n"))
	})
})

// restConfig is a client configuration for host with a client certificate for user,
// not verifying the executor's self-signed certificate (as the API server by default).
func (ca *kubeletClientCA) restConfig(user, host string) *rest.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: user},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	Expect(err).NotTo(HaveOccurred())
	keyDER, err := x509.MarshalECPrivateKey(key)
	Expect(err).NotTo(HaveOccurred())
	return &rest.Config{Host: host, TLSClientConfig: rest.TLSClientConfig{Insecure: true,
		CertData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyData:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})}}
}
