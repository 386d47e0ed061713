package localmetrics

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Binary is the newest version's metrics-server by version, not by spelling (v0.10.0
// sorts before v0.8.0 as a string), and "" when none was built.
func TestBinary(t *testing.T) {
	bin := t.TempDir()
	if got := Binary(bin); got != "" {
		t.Errorf("Binary of an empty bin = %q, want \"\"", got)
	}
	for _, v := range []string{"v0.8.0", "v0.10.0", "v0.9.1"} {
		dir := filepath.Join(bin, "metrics-server", v)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "metrics-server"), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A version whose build was interrupted has no binary yet.
	if err := os.MkdirAll(filepath.Join(bin, "metrics-server", "v0.11.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, want := Binary(bin), filepath.Join(bin, "metrics-server", "v0.10.0", "metrics-server"); got != want {
		t.Errorf("Binary = %q, want %q", got, want)
	}
}

// ConfigureAPIServer gives kube-apiserver a service range on loopback and a front-proxy
// client certificate that the requestheader CA it names verifies, for the user it
// allows.
func TestConfigureAPIServer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	args := envtest.EmptyArguments()
	if err := ConfigureAPIServer(args, dir); err != nil {
		t.Fatal(err)
	}
	flag := func(name string) string {
		t.Helper()
		v := args.Get(name).Get(nil)
		if len(v) != 1 {
			t.Fatalf("--%s = %q, want one value", name, v)
		}
		return v[0]
	}
	_, ipNet, err := net.ParseCIDR(flag("service-cluster-ip-range"))
	if err != nil {
		t.Fatal(err)
	}
	if !ipNet.IP.IsLoopback() {
		t.Errorf("service range %s is not on loopback", ipNet)
	}
	pair, err := tls.LoadX509KeyPair(flag("proxy-client-cert-file"), flag("proxy-client-key-file"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != flag("requestheader-allowed-names") {
		t.Errorf("the front-proxy client is %q, but kube-apiserver allows %q", cert.Subject.CommonName, flag("requestheader-allowed-names"))
	}
	caPEM, err := os.ReadFile(flag("requestheader-client-ca-file"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("the requestheader CA file holds no certificate")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the requestheader CA does not verify the front-proxy client certificate: %v", err)
	}
	for _, f := range []string{"requestheader-username-headers", "requestheader-group-headers", "requestheader-extra-headers-prefix"} {
		flag(f)
	}
}
