package taskapi

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k8sm/k8sm/internal/pki"
)

// proxyConfig is the ConfigMap's data as kube-apiserver writes it, for a front-proxy CA.
func proxyConfig(ca *pki.CA, allowed string) map[string]string {
	return map[string]string{
		"requestheader-client-ca-file":       string(ca.CertPEM),
		"requestheader-allowed-names":        allowed,
		"requestheader-username-headers":     `["X-Remote-User"]`,
		"requestheader-uid-headers":          `["X-Remote-Uid"]`,
		"requestheader-group-headers":        `["X-Remote-Group"]`,
		"requestheader-extra-headers-prefix": `["X-Remote-Extra-"]`,
		"client-ca-file":                     "ignored",
	}
}

func clientCert(t *testing.T, ca *pki.CA, cn string) *x509.Certificate {
	t.Helper()
	certPEM, keyPEM, err := ca.IssueClient(cn, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseRequestHeader(t *testing.T) {
	ca, err := pki.NewCA("front-proxy-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rh, err := ParseRequestHeader(proxyConfig(ca, `["front-proxy-client"]`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rh.AllowedNames, []string{"front-proxy-client"}) || !slices.Equal(rh.UsernameHeaders, []string{"X-Remote-User"}) ||
		!slices.Equal(rh.ExtraHeaderPrefixes, []string{"X-Remote-Extra-"}) {
		t.Errorf("%+v", rh)
	}
	if rh, err := ParseRequestHeader(proxyConfig(ca, "null")); err != nil || rh.AllowedNames != nil {
		t.Errorf("no allowed names: %+v, %v", rh, err)
	}
	for name, data := range map[string]map[string]string{
		"no CA":               {"requestheader-username-headers": `["X-Remote-User"]`},
		"no username headers": {"requestheader-client-ca-file": string(ca.CertPEM)},
		"a list not JSON":     {"requestheader-client-ca-file": string(ca.CertPEM), "requestheader-username-headers": "X-Remote-User"},
	} {
		if _, err := ParseRequestHeader(data); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), "extension-apiserver-authentication") {
			t.Errorf("%s: the error does not name the ConfigMap: %v", name, err)
		}
	}
}

func TestFrontProxyAuthentication(t *testing.T) {
	ca, err := pki.NewCA("front-proxy-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("another-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rh, err := ParseRequestHeader(proxyConfig(ca, `["front-proxy-client"]`))
	if err != nil {
		t.Fatal(err)
	}
	var f FrontProxy
	request := func(cert *x509.Certificate) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, "https://x/apis", nil)
		if cert != nil {
			r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
		}
		r.Header.Set("X-Remote-User", "alice")
		r.Header.Set("X-Remote-Uid", "uid-1")
		r.Header.Add("X-Remote-Group", "devs")
		r.Header.Add("X-Remote-Group", "system:authenticated")
		r.Header.Add("X-Remote-Extra-Scopes%2fread", "a")
		r.Header.Add("X-Remote-Extra-Scopes%2fread", "b")
		return r
	}
	if _, _, err := f.Authenticate(request(clientCert(t, ca, "front-proxy-client"))); err == nil {
		t.Error("authenticated before the configuration was read")
	}
	f.Set(rh)
	u, ok, err := f.Authenticate(request(clientCert(t, ca, "front-proxy-client")))
	if err != nil || !ok {
		t.Fatalf("the front proxy: %v %v", ok, err)
	}
	if u.GetName() != "alice" || u.GetUID() != "uid-1" || !slices.Equal(u.GetGroups(), []string{"devs", "system:authenticated"}) ||
		!slices.Equal(u.GetExtra()["scopes/read"], []string{"a", "b"}) {
		t.Errorf("user %+v", u)
	}
	for name, cert := range map[string]*x509.Certificate{
		"no certificate":         nil,
		"a name not allowed":     clientCert(t, ca, "someone"),
		"another CA's":           clientCert(t, other, "front-proxy-client"),
		"a CA's own certificate": ca.Cert,
	} {
		if _, ok, err := f.Authenticate(request(cert)); ok || err != nil {
			t.Errorf("%s: authenticated %v, %v", name, ok, err)
		}
	}
	noUser := request(clientCert(t, ca, "front-proxy-client"))
	noUser.Header.Del("X-Remote-User")
	if _, ok, _ := f.Authenticate(noUser); ok {
		t.Error("authenticated without a user")
	}
}
