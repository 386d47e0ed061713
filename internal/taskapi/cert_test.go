package taskapi

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/k8sm/k8sm/internal/pki"
)

func apiService() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("apiregistration.k8s.io/v1")
	u.SetKind("APIService")
	u.SetName(APIServiceName)
	_ = unstructured.SetNestedField(u.Object, map[string]any{"namespace": "k8sm-system", "name": "k8sm-tasks-api", "port": int64(443)}, "spec", "service")
	return u
}

func selfSigned(t *testing.T, c client.Client, now time.Time) *SelfSigned {
	t.Helper()
	return &SelfSigned{Client: c, Reader: c, Secret: types.NamespacedName{Namespace: "k8sm-system", Name: "k8sm-tasks-api-cert"},
		Service: "k8sm-tasks-api", Log: logr.Discard(), Now: func() time.Time { return now }}
}

// bundleOf is the APIService's CA bundle, as certificates.
func bundleOf(t *testing.T, c client.Client) *x509.CertPool {
	t.Helper()
	u := apiService()
	if err := c.Get(context.Background(), types.NamespacedName{Name: APIServiceName}, u); err != nil {
		t.Fatal(err)
	}
	b64, _, _ := unstructured.NestedString(u.Object, "spec", "caBundle")
	pemBytes, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(pemBytes) == 0 {
		t.Fatalf("caBundle %q: %v", b64, err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	return pool
}

func verifies(s *SelfSigned, pool *x509.CertPool, now time.Time) error {
	c, err := s.GetCertificate(nil)
	if err != nil {
		return err
	}
	_, err = c.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "k8sm-tasks-api.k8sm-system.svc", CurrentTime: now})
	return err
}

func TestSelfSignedMakesSharesAndRenewsTheCertificate(t *testing.T) {
	sch := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(sch); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(sch).WithObjects(apiService()).Build()
	ctx := context.Background()
	now := time.Now()

	first := selfSigned(t, c, now)
	if _, err := first.GetCertificate(nil); err == nil {
		t.Error("a certificate before one was made")
	}
	if err := first.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if err := verifies(first, bundleOf(t, c), now); err != nil {
		t.Fatalf("the certificate made is not trusted by the APIService's bundle: %v", err)
	}
	var secret corev1.Secret
	if err := c.Get(ctx, first.Secret, &secret); err != nil || secret.Type != corev1.SecretTypeTLS {
		t.Fatalf("the Secret: %v %v", secret.Type, err)
	}

	// Another replica takes the same certificate.
	second := selfSigned(t, c, now)
	if err := second.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	a, _ := first.GetCertificate(nil)
	b, _ := second.GetCertificate(nil)
	if !a.Leaf.Equal(b.Leaf) {
		t.Error("the second replica made a certificate of its own")
	}

	// A month before it ends, a replica makes a new one; the bundle trusts both until the
	// others read it. (The one before, made here to end in ten days, is taken by a
	// replica whose clock says a month earlier, which keeps it.)
	ca, err := pki.NewCA("ending", 20*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServing("x", first.dnsNames(), nil, 10*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	secret.Data = map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM, corev1.ServiceAccountRootCAKey: ca.CertPEM}
	if err := c.Update(ctx, &secret); err != nil {
		t.Fatal(err)
	}
	old := selfSigned(t, c, now.Add(-renewBefore))
	if err := old.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if err := verifies(old, bundleOf(t, c), now); err != nil {
		t.Fatalf("the certificate ending: %v", err)
	}
	renewing := selfSigned(t, c, now)
	if err := renewing.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	renewed, _ := renewing.GetCertificate(nil)
	ending, _ := old.GetCertificate(nil)
	if renewed.Leaf.Equal(ending.Leaf) {
		t.Fatal("not renewed")
	}
	pool := bundleOf(t, c)
	if err := verifies(renewing, pool, now); err != nil {
		t.Errorf("the new certificate: %v", err)
	}
	if err := verifies(old, pool, now); err != nil {
		t.Errorf("the certificate before, still served by a replica: %v", err)
	}

	// Reload takes the new one at once, as a replica does that meets a peer holding it.
	old.Reload(ctx)
	if now, _ := old.GetCertificate(nil); !now.Leaf.Equal(renewed.Leaf) {
		t.Error("Reload did not take the new certificate")
	}
}
