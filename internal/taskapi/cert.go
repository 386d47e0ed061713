package taskapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/pki"
)

// APIServiceName is the served group's APIService: <version>.<group>.
var APIServiceName = GroupVersion.Version + "." + GroupVersion.Group

// The self-made certificates: the CA and the serving certificate it signs last a year,
// and are made again a month before they end; replicas read the Secret again every ten
// minutes, and the APIService's CA bundle keeps the CA before as well, so that a
// replica still serving the certificate before is trusted until it reads the new one.
const (
	certValidFor  = 365 * 24 * time.Hour
	renewBefore   = 30 * 24 * time.Hour
	certReadEvery = 10 * time.Minute
	certRetry     = 5 * time.Second
)

// SelfSigned keeps the served API's serving certificate in a Secret of the manager's
// namespace, shared by its replicas, made by whichever replica finds it missing or
// ending, and sets the APIService's CA bundle to the CA that signed it: the certificate
// of an install by kubectl apply, with no certificate manager in the cluster. (OLM
// makes and mounts one of its own: the manager's --tasks-api-cert-dir.)
type SelfSigned struct {
	// Client writes the Secret and the APIService; Reader reads them (not from a cache).
	Client client.Client
	Reader client.Reader
	// Secret is the Secret's name; Service the name of the Service the APIService
	// names, in the Secret's namespace.
	Secret  types.NamespacedName
	Service string
	Log     logr.Logger
	// Now is the clock (time.Now if nil).
	Now func() time.Time

	cert atomic.Pointer[tls.Certificate]
	// mu is held while the Secret is read: by Start, and by Reload.
	mu sync.Mutex
	// bundle is the CA bundle last set on the APIService.
	bundle []byte
}

// NeedLeaderElection is false: every replica serves.
func (s *SelfSigned) NeedLeaderElection() bool { return false }

// GetCertificate is the serving certificate, for tls.Config.
func (s *SelfSigned) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := s.cert.Load(); c != nil {
		return c, nil
	}
	return nil, errors.New("the MesosTasks API's serving certificate is not ready yet")
}

// Start keeps the certificate until ctx ends.
func (s *SelfSigned) Start(ctx context.Context) error {
	repeat(ctx, s.Log.WithValues("secret", s.Secret), "Keeping the MesosTasks API's serving certificate", certReadEvery, certRetry, s.ensure)
	return nil
}

// Reload reads the Secret again now: another replica may have made a new certificate
// (Relay). A failure is left to Start, which reads it again every ten minutes.
func (s *SelfSigned) Reload(ctx context.Context) {
	if err := s.ensure(ctx); err != nil {
		s.Log.V(1).Info("Could not read the MesosTasks API's serving certificate again", "secret", s.Secret, "error", err.Error())
	}
}

func (s *SelfSigned) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// dnsNames are the names the aggregator may check the certificate for: it checks
// <service>.<namespace>.svc.
func (s *SelfSigned) dnsNames() []string {
	svc := s.Service + "." + s.Secret.Namespace + ".svc"
	return []string{svc, svc + ".cluster.local"}
}

// ensure reads the Secret, makes a certificate if it holds none still good, takes it,
// and sets the APIService's CA bundle.
func (s *SelfSigned) ensure(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var secret corev1.Secret
	err := s.Reader.Get(ctx, s.Secret, &secret)
	found := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	cert, bundle, ok := s.usable(secret.Data)
	if !ok {
		data, err := s.make(secret.Data)
		if err != nil {
			return err
		}
		secret.Data = data
		if found {
			err = s.Client.Update(ctx, &secret)
		} else {
			secret.ObjectMeta = metav1.ObjectMeta{Namespace: s.Secret.Namespace, Name: s.Secret.Name,
				Labels: map[string]string{"app.kubernetes.io/part-of": "k8sm"}}
			secret.Type = corev1.SecretTypeTLS
			err = s.Client.Create(ctx, &secret)
		}
		if err != nil {
			// Another replica wrote it meanwhile: read it again.
			return fmt.Errorf("writing the certificate: %w", err)
		}
		s.Log.Info("Made the MesosTasks API's serving certificate", "secret", s.Secret, "dnsNames", s.dnsNames())
		if cert, bundle, ok = s.usable(data); !ok {
			return errors.New("the certificate just made is not usable")
		}
	}
	s.cert.Store(cert)
	return s.setBundle(ctx, bundle)
}

// usable is the Secret's certificate and CA bundle, if it holds one that is good for a
// month more, for the Service's names.
func (s *SelfSigned) usable(data map[string][]byte) (*tls.Certificate, []byte, bool) {
	c, err := tls.X509KeyPair(data[corev1.TLSCertKey], data[corev1.TLSPrivateKeyKey])
	if err != nil || len(data[corev1.ServiceAccountRootCAKey]) == 0 {
		return nil, nil, false
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil || s.now().Add(renewBefore).After(leaf.NotAfter) {
		return nil, nil, false
	}
	for _, n := range s.dnsNames() {
		if !slices.Contains(leaf.DNSNames, n) {
			return nil, nil, false
		}
	}
	c.Leaf = leaf
	return &c, data[corev1.ServiceAccountRootCAKey], true
}

// make is a new CA and serving certificate, the CA bundle holding the CA before too.
func (s *SelfSigned) make(old map[string][]byte) (map[string][]byte, error) {
	ca, err := pki.NewCA("k8sm-tasks-api-ca@"+fmt.Sprint(s.now().Unix()), certValidFor)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.IssueServing(s.dnsNames()[0], s.dnsNames(), nil, certValidFor)
	if err != nil {
		return nil, err
	}
	bundle := bytes.Clone(ca.CertPEM)
	if prev := firstCertificate(old[corev1.ServiceAccountRootCAKey]); prev != nil && s.now().Before(prev.NotAfter) {
		bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: prev.Raw})...)
	}
	return map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM, corev1.ServiceAccountRootCAKey: bundle}, nil
}

// firstCertificate is the first certificate of a PEM bundle, nil if none.
func firstCertificate(b []byte) *x509.Certificate {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil
	}
	return c
}

// setBundle sets the APIService's spec.caBundle, unless it is set already.
func (s *SelfSigned) setBundle(ctx context.Context, bundle []byte) error {
	if bytes.Equal(s.bundle, bundle) {
		return nil
	}
	svc := &unstructured.Unstructured{}
	svc.SetAPIVersion("apiregistration.k8s.io/v1")
	svc.SetKind("APIService")
	if err := s.Reader.Get(ctx, types.NamespacedName{Name: APIServiceName}, svc); err != nil {
		return fmt.Errorf("reading the APIService %s: %w", APIServiceName, err)
	}
	want := base64.StdEncoding.EncodeToString(bundle)
	if have, _, _ := unstructured.NestedString(svc.Object, "spec", "caBundle"); have != want {
		patch := fmt.Appendf(nil, `{"spec":{"caBundle":%q}}`, want)
		if err := s.Client.Patch(ctx, svc, client.RawPatch(types.MergePatchType, patch)); err != nil {
			return fmt.Errorf("setting the APIService %s's CA bundle: %w", APIServiceName, err)
		}
		s.Log.Info("Set the APIService's CA bundle", "apiService", APIServiceName)
	}
	s.bundle = bundle
	return nil
}
