package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/kubeletauth"
	"github.com/k8sm/k8sm/internal/servingcert"
)

// The executors' serving certificate requests, filed with the manager's own token and
// exactly config/default's roles: create, approve for kubernetes.io/kubelet-serving,
// read and delete, with nothing refused; approving for another signer, or listing, is
// refused. The test stands in for the signer (kube-controller-manager's csrsigning,
// which test/integration runs).
var _ = Describe("The manager's kubelet-serving certificate requests with config/default's RBAC", func() {
	It("files, approves, reads and deletes a request, and may approve for no other signer", func() {
		installManagerRBAC()
		var refused refusals
		mc, err := client.New(refused.watch(serviceAccountConfig(installNamespace, managerAccount)), client.Options{Scheme: newScheme()})
		Expect(err).NotTo(HaveOccurred())
		admin := adminClient()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()

		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		Expect(err).NotTo(HaveOccurred())
		names := servingcert.AgentNames("agent-1", "192.0.2.7")
		req, err := servingcert.NewRequest(key, "mesos-rbac-agent-1", names)
		Expect(err).NotTo(HaveOccurred())
		r := kubeletauth.SignRequest{Cluster: "rbac", Node: "mesos-rbac-agent-1", AgentID: "a1", Request: req, Names: names, ExpirationSeconds: 3600}
		name := servingcert.ObjectName(r.Cluster, r.Node, r.Request)

		By("signing, as the signer would, once the manager approved")
		go func() {
			defer GinkgoRecover()
			Eventually(func() bool {
				csr := &certificatesv1.CertificateSigningRequest{}
				if admin.Get(ctx, client.ObjectKey{Name: name}, csr) != nil {
					return false
				}
				for _, c := range csr.Status.Conditions {
					if c.Type == certificatesv1.CertificateApproved && c.Reason == servingcert.ApprovalReason {
						csr.Status.Certificate = []byte(selfSignedPEM(key))
						return admin.Status().Update(ctx, csr) == nil
					}
				}
				return false
			}, 20*time.Second, 50*time.Millisecond).Should(BeTrue())
		}()
		cert, err := kubeletauth.ClientSigner{Client: mc, Reader: mc, Poll: 50 * time.Millisecond}.Sign(ctx, r)
		Expect(err).NotTo(HaveOccurred(), refused.describe)
		Expect(string(cert)).To(HavePrefix("-----BEGIN CERTIFICATE-----"))
		Eventually(func() bool {
			return apierrors.IsNotFound(admin.Get(ctx, client.ObjectKey{Name: name}, &certificatesv1.CertificateSigningRequest{}))
		}, 5*time.Second, 50*time.Millisecond).Should(BeTrue(), "the request was not deleted")
		Expect(refused.list()).To(BeEmpty())

		By("refusing the manager an approval for another signer, and a list")
		other := &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: "rbac-client-" + name},
			Spec: certificatesv1.CertificateSigningRequestSpec{Request: req, SignerName: certificatesv1.KubeAPIServerClientSignerName,
				Usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}}}
		Expect(admin.Create(ctx, other)).To(Succeed())
		DeferCleanup(func() { _ = admin.Delete(context.Background(), other) })
		Expect(mc.Get(ctx, client.ObjectKeyFromObject(other), other)).To(Succeed())
		other.Status.Conditions = append(other.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Test"})
		Expect(apierrors.IsForbidden(mc.SubResource("approval").Update(ctx, other))).To(BeTrue(), "the manager approved for %s", other.Spec.SignerName)
		Expect(apierrors.IsForbidden(mc.List(ctx, &certificatesv1.CertificateSigningRequestList{}))).To(BeTrue(), "the manager listed requests")
	})
})

// selfSignedPEM is a certificate for key, standing in for the signer's.
func selfSignedPEM(key *ecdsa.PrivateKey) string {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "system:node:mesos-rbac-agent-1"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	Expect(err).NotTo(HaveOccurred())
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
