package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sm/k8sm/internal/pki"
)

// servingCert writes a CA-signed certificate for 127.0.0.1 as tls.crt and tls.key into
// a new directory, and returns the directory and the CA to verify it with.
func servingCert() (string, *x509.CertPool) {
	ca, err := pki.NewCA("k8sm-test-ca", time.Hour)
	Expect(err).NotTo(HaveOccurred())
	certPEM, keyPEM, err := ca.IssueServing("k8sm-metrics", nil, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Hour)
	Expect(err).NotTo(HaveOccurred())
	dir := GinkgoT().TempDir()
	Expect(os.WriteFile(filepath.Join(dir, "tls.crt"), certPEM, 0o600)).To(Succeed())
	Expect(os.WriteFile(filepath.Join(dir, "tls.key"), keyPEM, 0o600)).To(Succeed())
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return dir, pool
}

// scrape GETs url with a bearer token (none when empty) and returns the status and body.
func scrape(c *http.Client, url, token string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// bindMetricsReader binds config/default's metrics reader ClusterRole to an account.
func bindMetricsReader(namespace, account string) {
	ctx := context.Background()
	b := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{GenerateName: "k8sm-metrics-reader-"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "k8sm-metrics-reader"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: account}}}
	Expect(adminClient().Create(ctx, b)).To(Succeed())
	DeferCleanup(func() { _ = adminClient().Delete(ctx, b) })
}

// The metrics endpoint as deployed (https, authentication and authorization by the API
// server), run by the manager with its own RBAC: only a caller allowed to GET /metrics
// reads it.
var _ = Describe("The metrics endpoint", func() {
	It("serves metrics over TLS to an authorized caller only", func() {
		installManagerRBAC()
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "k8sm-scrapers-"}}
		Expect(adminClient().Create(context.Background(), ns)).To(Succeed())
		DeferCleanup(func() { _ = adminClient().Delete(context.Background(), ns) })
		// Two accounts, each asking once: the endpoint caches a denial for 30 s.
		bindMetricsReader(ns.Name, "prometheus")
		reader := serviceAccountConfig(ns.Name, "prometheus").BearerToken
		stranger := serviceAccountConfig(ns.Name, "stranger").BearerToken

		certDir, ca := servingCert()
		addr := freeAddr()
		startManagerAs(serviceAccountConfig(installNamespace, managerAccount), parseOptions(
			"--health-probe-bind-address", freeAddr(), "--metrics-bind-address", addr, "--metrics-cert-dir", certDir, "--namespace", installNamespace))
		// The client trusts only the test CA: the server must present the certificate given.
		https := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca, MinVersion: tls.VersionTLS12}}}
		url := fmt.Sprintf("https://%s/metrics", addr)

		By("serving an authorized caller, over a certificate the client verifies")
		Eventually(func() (int, error) {
			code, _, err := scrape(https, url, reader)
			return code, err
		}, 30*time.Second, 200*time.Millisecond).Should(Equal(http.StatusOK))
		code, body, err := scrape(https, url, reader)
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(http.StatusOK))
		Expect(body).To(ContainSubstring("controller_runtime_"))

		By("refusing plain http")
		// Go's TLS server answers 400 "Client sent an HTTP request to an HTTPS server" and
		// closes, which the client may see as the answer or as a reset: either way, no metrics.
		code, body, err = scrape(&http.Client{Timeout: 10 * time.Second}, fmt.Sprintf("http://%s/metrics", addr), reader)
		if err == nil {
			Expect(code).To(Equal(http.StatusBadRequest))
			Expect(body).NotTo(ContainSubstring("controller_runtime_"))
		}

		By("refusing a caller without a token")
		code, body, err = scrape(https, url, "")
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(http.StatusUnauthorized))
		Expect(body).NotTo(ContainSubstring("controller_runtime_"))

		By("refusing a token the API server does not know")
		// controller-runtime's filter takes the TokenReview's error for a failure of its own
		// and answers 500 "Authentication failed" (docs/security.md says so): refused all the same.
		code, body, err = scrape(https, url, "not-a-token")
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(http.StatusInternalServerError))
		Expect(body).To(Equal("Authentication failed\n"))

		By("refusing an authenticated caller that may not GET /metrics")
		code, body, err = scrape(https, url, stranger)
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(http.StatusForbidden))
		Expect(body).NotTo(ContainSubstring("controller_runtime_"))
	})

	DescribeTable("refuses to serve without authentication beyond loopback",
		func(args []string, msg string) {
			_, err := newManager(testEnv.Config, parseOptions(append([]string{"--health-probe-bind-address", freeAddr()}, args...)...))
			Expect(err).To(MatchError(ContainSubstring(msg)))
		},
		Entry("plain metrics on every interface", []string{"--metrics-bind-address", ":18080", "--metrics-secure=false"},
			`--metrics-bind-address with --metrics-secure=false ":18080": serves without authentication, so it must listen on loopback`),
		Entry("plain metrics on a routable address", []string{"--metrics-bind-address", "10.1.2.3:18080", "--metrics-secure=false"},
			"must listen on loopback"),
		Entry("pprof on every interface", []string{"--metrics-bind-address", "0", "--pprof-bind-address", ":16060"},
			`--pprof-bind-address ":16060": serves without authentication`),
		Entry("a certificate directory without a certificate", []string{"--metrics-bind-address", "127.0.0.1:0", "--metrics-cert-dir", "/nonexistent"},
			"--metrics-cert-dir: stat /nonexistent/tls.crt"),
	)
})
