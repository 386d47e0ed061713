package e2e

import (
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/gomega"

	"github.com/k8sm/k8sm/internal/pki"
)

// newCA is a CA for a spec, valid for a day.
func newCA(name string) *pki.CA {
	ca, err := pki.NewCA(name, 24*time.Hour)
	Expect(err).NotTo(HaveOccurred())
	return ca
}

// issueClient writes a client certificate of ca for user, and its key, into dir as
// user.crt and user.key, and returns their paths.
func issueClient(ca *pki.CA, user, dir string) (certFile, keyFile string) {
	certPEM, keyPEM, err := ca.IssueClient(user, nil, 24*time.Hour)
	Expect(err).NotTo(HaveOccurred())
	certFile, keyFile = filepath.Join(dir, user+".crt"), filepath.Join(dir, user+".key")
	Expect(os.WriteFile(certFile, certPEM, 0o600)).To(Succeed())
	Expect(os.WriteFile(keyFile, keyPEM, 0o600)).To(Succeed())
	return certFile, keyFile
}

// writeCA writes the CA's certificate and key into dir as <CN>.crt and <CN>.key, and
// returns their paths.
func writeCA(ca *pki.CA, dir string) (certFile, keyFile string) {
	keyPEM, err := ca.KeyPEM()
	Expect(err).NotTo(HaveOccurred())
	name := ca.Cert.Subject.CommonName
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	Expect(os.WriteFile(certFile, ca.CertPEM, 0o600)).To(Succeed())
	Expect(os.WriteFile(keyFile, keyPEM, 0o600)).To(Succeed())
	return certFile, keyFile
}
