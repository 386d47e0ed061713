package servingcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"net"
	"net/url"
	"regexp"
	"strings"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

const node = "mesos-c-agent-1"

func ecKey(t *testing.T, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// request signs tmpl with key, as PEM.
func request(t *testing.T, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// kubeletLike is the template of a kubelet's kubelet-serving request for node, with
// change applied.
func kubeletLike(change func(*x509.CertificateRequest)) *x509.CertificateRequest {
	r := &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: "system:node:" + node, Organization: []string{"system:nodes"}},
		DNSNames: []string{"agent-1.example"}, IPAddresses: []net.IP{net.ParseIP("10.0.0.7")},
	}
	if change != nil {
		change(r)
	}
	return r
}

func TestAgentNames(t *testing.T) {
	cases := []struct {
		hostname, ip string
		want         string
	}{
		{"agent-1.example", "10.0.0.7", "agent-1.example, 10.0.0.7"},
		{"Agent-1.Example", "10.0.0.7", "agent-1.example, 10.0.0.7"},
		{"10.0.0.7", "10.0.0.7", "10.0.0.7"},
		{"agent-1.example", "::ffff:10.0.0.7", "agent-1.example, 10.0.0.7"},
		// A hostname is the agent's to choose (--hostname): as an IP it names only the
		// agent's own address, never the API server's, a Service's or another host's.
		{"10.0.0.8", "10.0.0.7", "10.0.0.7"},
		{"10.96.0.1", "192.0.2.7", "192.0.2.7"},
		{"10.0.0.7", "", ""},
		// Addresses that are no one host's: loopback (every host's own), unspecified,
		// link-local (a segment's), multicast.
		{"127.0.0.1", "127.0.0.1", ""},
		{"agent-1", "127.0.0.2", "agent-1"},
		{"agent-1", "::1", "agent-1"},
		{"agent-1", "0.0.0.0", "agent-1"},
		{"agent-1", "::", "agent-1"},
		{"agent-1", "169.254.169.254", "agent-1"},
		{"agent-1", "fe80::1", "agent-1"},
		{"agent-1", "224.0.0.1", "agent-1"},
		{"agent-1", "ff02::1", "agent-1"},
		{"agent-1", "::ffff:127.0.0.1", "agent-1"},
		{"agent-1", "", "agent-1"},
		{"agent-1", "not-an-ip", "agent-1"},
		{"agent-1", "fd00::7", "agent-1, fd00::7"},
		{"", "", ""},
		{"kubernetes.default.svc", "10.0.0.7", "10.0.0.7"},
		{"kubernetes", "10.0.0.7", "10.0.0.7"},
		{"api.kube-system.svc.cluster.local", "10.0.0.7", "10.0.0.7"},
		{"localhost", "127.0.0.1", ""},
		{"localhost", "10.0.0.7", "10.0.0.7"},
		{"svc-agent.example", "10.0.0.7", "svc-agent.example, 10.0.0.7"},
	}
	for _, tc := range cases {
		n := AgentNames(tc.hostname, tc.ip)
		if n.String() != tc.want || n.Empty() != (tc.want == "") {
			t.Errorf("AgentNames(%q, %q) = %q, want %q", tc.hostname, tc.ip, n, tc.want)
		}
	}
}

// What the manager files and approves for the agent agent-1.example (10.0.0.7) whose
// Node is mesos-c-agent-1, and what it refuses, with why.
func TestCheck(t *testing.T) {
	// An agent whose master says its hostname is the API server's gets no certificate
	// for that name.
	if n := AgentNames("kubernetes.default.svc.cluster.local", "10.0.0.7"); len(n.DNS) != 0 {
		t.Fatalf("AgentNames keeps %v", n.DNS)
	}
	allowed := AgentNames("agent-1.example", "10.0.0.7")
	p256 := ecKey(t, elliptic.P256())
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024) //nolint:gosec // the weak key to refuse
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	clientAuth, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 2}})
	if err != nil {
		t.Fatal(err)
	}
	valid := request(t, p256, kubeletLike(nil))
	tampered := func() []byte {
		b, _ := pem.Decode(valid)
		der := append([]byte(nil), b.Bytes...)
		der[len(der)-1] ^= 0xff
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	}()
	cases := []struct {
		name string
		pem  []byte
		want string // an error substring; empty: approved
	}{
		{"a kubelet's request", valid, ""},
		{"the hostname only", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) { r.IPAddresses = nil })), ""},
		{"the IP only", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) { r.DNSNames = nil })), ""},
		{"the hostname in capitals", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) { r.DNSNames = []string{"AGENT-1.example"} })), ""},
		{"an RSA 2048 key", request(t, rsa2048, kubeletLike(nil)), ""},
		{"a P-384 key", request(t, ecKey(t, elliptic.P384()), kubeletLike(nil)), ""},

		{"another Node's name", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) { r.Subject.CommonName = "system:node:mesos-c-agent-2" })), `"system:node:mesos-c-agent-2" is not "system:node:mesos-c-agent-1"`},
		{"a Node's name without the prefix", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) { r.Subject.CommonName = node })), "is not"},
		{"a user's name", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) { r.Subject.CommonName = "admin" })), "is not"},
		{"system:masters", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) { r.Subject.Organization = []string{"system:masters"} })), "organizations"},
		{"system:masters besides", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) {
			r.Subject.Organization = []string{"system:nodes", "system:masters"}
		})), "organizations"},
		{"no organization", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) { r.Subject.Organization = nil })), "organizations"},
		{"another subject attribute", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) { r.Subject.OrganizationalUnit = []string{"x"} })), "other than CN and O"},
		{"a foreign DNS name", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) {
			r.DNSNames = append(r.DNSNames, "kubernetes.default.svc")
		})), `"kubernetes.default.svc" is not the agent's`},
		{"the API server's name", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) { r.DNSNames = []string{"kubernetes.default.svc"} })), "is not the agent's"},
		{"a wildcard", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) { r.DNSNames = []string{"*.example"} })), "is not the agent's"},
		{"a foreign IP", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) {
			r.IPAddresses = append(r.IPAddresses, net.ParseIP("10.96.0.1"))
		})), "10.96.0.1 is not the agent's"},
		{"loopback", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) { r.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")} })), "127.0.0.1 is a loopback address"},
		{"IPv6 loopback", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) { r.IPAddresses = []net.IP{net.IPv6loopback} })), "::1 is a loopback address"},
		{"unspecified", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) { r.IPAddresses = []net.IP{net.IPv4zero} })), "0.0.0.0 is an unspecified address"},
		{"link-local", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) { r.IPAddresses = []net.IP{net.ParseIP("169.254.169.254")} })), "169.254.169.254 is a link-local address"},
		{"multicast", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) { r.IPAddresses = []net.IP{net.ParseIP("ff02::1")} })), "ff02::1 is a multicast address"},
		{"an e-mail address", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) { r.EmailAddresses = []string{"a@example.com"} })), "e-mail"},
		{"a URI", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) {
			r.URIs = []*url.URL{{Scheme: "spiffe", Host: "cluster.local", Path: "/ns/x"}}
		})), "URIs"},
		{"no names", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) { r.DNSNames, r.IPAddresses = nil, nil })), "no DNS name or IP"},
		{"client auth asked for", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) {
			r.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Value: clientAuth}}
		})), "extended key usages (client auth"},
		{"a CA asked for", request(t, p256, kubeletLike(func(r *x509.CertificateRequest) {
			r.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: []byte{0x30, 0x03, 0x01, 0x01, 0xff}}}
		})), "extension 2.5.29.19"},
		{"an Ed25519 key", request(t, ed, kubeletLike(nil)), "ed25519"},
		{"an RSA 1024 key", request(t, rsa1024, kubeletLike(nil)), "RSA key of 1024 bits"},
		{"a P-521 key", request(t, ecKey(t, elliptic.P521()), kubeletLike(nil)), "P-521"},
		{"a bad signature", tampered, "signature"},
		{"not PEM", []byte("hello"), "not a PEM"},
		{"a certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), "not a CERTIFICATE REQUEST"},
		{"two requests", append(append([]byte(nil), valid...), valid...), "more than one"},
		{"PEM headers", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Headers: map[string]string{"a": "b"}, Bytes: []byte{1}}), "headers"},
		{"not DER", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1, 2, 3}}), "not a certificate request"},
		{"oversized", []byte(strings.Repeat(" ", 9<<10)), "over"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := Parse(tc.pem)
			if err == nil {
				err = Check(req, node, allowed)
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("%v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// An agent whose hostname is an IP that is not its address (--hostname=10.96.0.1, the
// kubernetes Service's) or loopback gets no certificate for it: a request naming it is
// refused, whatever the allowed names say (Check refuses loopback and the like even in
// them).
func TestCheckRefusesAddressesTheAgentChose(t *testing.T) {
	p256 := ecKey(t, elliptic.P256())
	ipRequest := func(ip string) []byte {
		return request(t, p256, kubeletLike(func(r *x509.CertificateRequest) { r.DNSNames, r.IPAddresses = nil, []net.IP{net.ParseIP(ip)} }))
	}
	cases := []struct {
		name    string
		pem     []byte
		allowed Names
		want    string
	}{
		{"the kubernetes Service's IP as the hostname", ipRequest("10.96.0.1"), AgentNames("10.96.0.1", "192.0.2.7"), "10.96.0.1 is not the agent's"},
		{"the API server's IP as the hostname", ipRequest("192.0.2.1"), AgentNames("192.0.2.1", "192.0.2.7"), "192.0.2.1 is not the agent's"},
		{"loopback as the hostname", ipRequest("127.0.0.1"), AgentNames("127.0.0.1", "192.0.2.7"), "127.0.0.1 is a loopback address"},
		{"loopback as the agent's address", ipRequest("127.0.0.1"), AgentNames("agent-1", "127.0.0.1"), "127.0.0.1 is a loopback address"},
		{"loopback among names given", ipRequest("127.0.0.1"), Names{IPs: []net.IP{net.ParseIP("127.0.0.1")}}, "127.0.0.1 is a loopback address"},
		{"the agent's own address", ipRequest("192.0.2.7"), AgentNames("10.96.0.1", "192.0.2.7"), ""},
		{"the agent's own address as its hostname", ipRequest("192.0.2.7"), AgentNames("192.0.2.7", "192.0.2.7"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := Parse(tc.pem)
			if err == nil {
				err = Check(req, node, tc.allowed)
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("%v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// A request made by NewRequest is what Check approves for the agent it names, and
// another agent's Node refuses it.
func TestNewRequestIsApproved(t *testing.T) {
	names := AgentNames("agent-1", "192.0.2.7")
	b, err := NewRequest(ecKey(t, elliptic.P256()), node, names)
	if err != nil {
		t.Fatal(err)
	}
	req, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(req, node, names); err != nil {
		t.Errorf("refused: %v", err)
	}
	if err := Check(req, "mesos-c-agent-2", AgentNames("agent-2", "192.0.2.8")); err == nil {
		t.Error("approved for another agent")
	}
	if _, err := NewRequest(ecKey(t, elliptic.P256()), node, Names{}); err == nil {
		t.Error("a request without names was made")
	}
}

func TestCheckUsages(t *testing.T) {
	for _, tc := range []struct {
		usages []certificatesv1.KeyUsage
		ok     bool
	}{
		{Usages, true},
		{[]certificatesv1.KeyUsage{certificatesv1.UsageServerAuth, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageDigitalSignature}, true},
		{[]certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageServerAuth, certificatesv1.UsageClientAuth}, false},
		{[]certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageClientAuth}, false},
		{[]certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}, false},
		{nil, false},
	} {
		if err := CheckUsages(tc.usages); (err == nil) != tc.ok {
			t.Errorf("CheckUsages(%q) = %v, want ok %v", tc.usages, err, tc.ok)
		}
	}
}

// The object's name is the same for the same request, another for another request,
// Node or cluster, and always a valid object name.
func TestObjectName(t *testing.T) {
	a := ObjectName("c", node, []byte("req"))
	if a != ObjectName("c", node, []byte("req")) {
		t.Error("the same request gets two names")
	}
	for _, other := range []string{ObjectName("c", node, []byte("req2")), ObjectName("d", node, []byte("req")), ObjectName("c", "mesos-c-agent-2", []byte("req"))} {
		if other == a {
			t.Errorf("two requests share the name %s", a)
		}
	}
	if !regexp.MustCompile(`^mesos-c-agent-1-serving-[0-9a-f]{20}$`).MatchString(a) {
		t.Errorf("name %q", a)
	}
	long := strings.Repeat("a", 199) + "." + strings.Repeat("b", 53)
	for _, n := range []string{a, ObjectName("c", long, nil), ObjectName("c", strings.Repeat("a", 199)+"-b", nil)} {
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
			t.Errorf("%q: %v", n, errs)
		}
	}
}
