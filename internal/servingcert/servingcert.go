// Package servingcert holds the rules of the executors' serving certificates from the
// cluster's kubernetes.io/kubelet-serving signer, with no Kubernetes client: the names
// an agent's certificate may carry, the request an executor makes (as a kubelet makes
// one for kubelet-serving), the checks the manager makes before it files and approves
// such a request for an agent, and those the executor makes of the certificate it gets
// back. See docs/architecture.md, "The kubelet API on agent Nodes", and
// docs/security.md.
package servingcert

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"

	"github.com/k8sm/k8sm/internal/agentmsg"
)

const (
	// SignerName is the signer the manager files the executors' requests with: the one
	// that signs kubelets' serving certificates, whose CA API servers are given as
	// --kubelet-certificate-authority.
	SignerName = certificatesv1.KubeletServingSignerName
	// Organization is the group of a kubelet-serving certificate's subject.
	Organization = "system:nodes"
	// CommonNamePrefix, then the Node's name, is its common name.
	CommonNamePrefix = "system:node:"
	// ApprovalReason is the reason of the manager's Approved condition.
	ApprovalReason = "K8smAgentServingCertificate"
	// minRSABits is the smallest RSA key taken; maxRSABits the largest, which bounds
	// the cost of checking a request's signature.
	minRSABits, maxRSABits = 2048, 4096
)

// Usages are those of a kubelet's serving certificate, as the kubelet-serving signer
// takes them: the manager asks for these and no others.
var Usages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageServerAuth}

// oidSubjectAltName is the one extension a request may carry. Key usages are the
// CertificateSigningRequest's to say (the manager's), not the request's.
var (
	oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidCommonName     = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidOrganization   = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidExtKeyUsage    = asn1.ObjectIdentifier{2, 5, 29, 37}
)

// Names are what an agent's serving certificate may name: the names the API server and
// metrics-server may dial it by.
type Names struct {
	DNS []string
	IPs []net.IP
}

// AgentNames are the names of an agent: its hostname, as a DNS name, and its IP, as
// Mesos reports them (the address the master knows the agent by: its offers' url.ip,
// the ip of its pid). The executor asks for these, and the manager approves no others:
// the same hostname and IP give its Node's addresses. The hostname is the agent's to
// choose (--hostname): one that is an IP address is named only when it is that IP, so
// that an agent cannot have a certificate for the API server's address or a Service's.
// A hostname that names a Kubernetes service or localhost is left out (Reserved), and
// so is an IP that is no one host's own (SpecialAddress: loopback, link-local…).
func AgentNames(hostname, ip string) Names {
	var n Names
	addr := net.ParseIP(ip)
	if addr != nil && SpecialAddress(addr) == "" {
		n.IPs = append(n.IPs, addr)
	}
	switch {
	case hostname == "", net.ParseIP(hostname) != nil: // the IP, named above, or not the agent's
	case Reserved(hostname):
	default:
		n.DNS = append(n.DNS, strings.ToLower(hostname))
	}
	return n
}

// SpecialAddress says what kind of address ip is when it names no one host, "" otherwise:
// loopback (every host's own), unspecified, link-local (valid on one network segment
// only, and there 169.254.169.254 is the cloud's metadata service) or multicast. No
// agent may have a certificate for such an address: signed by a CA its clients trust,
// it would let its holder pose as any server there.
func SpecialAddress(ip net.IP) string {
	switch {
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsUnspecified():
		return "an unspecified address"
	case ip.IsLinkLocalUnicast():
		return "a link-local address"
	case ip.IsMulticast():
		return "a multicast address"
	}
	return ""
}

// Reserved says whether a DNS name is one no agent may have a certificate for, whatever
// Mesos reports: the API server's (kubernetes, kubernetes.default…), any in-cluster
// service's (…svc, …svc.<domain>), localhost. Where one CA signs the kubelets' serving
// certificates and the API server's (kubeadm's ca.crt), a certificate for those names
// would let its holder pose as them.
func Reserved(name string) bool {
	n := strings.TrimSuffix(strings.ToLower(name), ".")
	return n == "localhost" || strings.HasSuffix(n, ".localhost") || n == "kubernetes" ||
		strings.HasPrefix(n, "kubernetes.default") || strings.HasSuffix(n, ".svc") || strings.Contains(n, ".svc.")
}

// Empty says the names name nothing: no certificate can be asked for.
func (n Names) Empty() bool { return len(n.DNS) == 0 && len(n.IPs) == 0 }

// String lists the names, for logs and messages.
func (n Names) String() string {
	out := append([]string(nil), n.DNS...)
	for _, ip := range n.IPs {
		out = append(out, ip.String())
	}
	return strings.Join(out, ", ")
}

// NewRequest is the PEM certificate request a kubelet makes for kubelet-serving: CN
// system:node:<node>, O system:nodes, the names as subject alternative names, signed
// by key.
func NewRequest(key crypto.Signer, node string, names Names) ([]byte, error) {
	if node == "" || names.Empty() {
		return nil, errors.New("a serving certificate request needs a Node and a name")
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: CommonNamePrefix + node, Organization: []string{Organization}},
		DNSNames: names.DNS, IPAddresses: names.IPs,
	}, key)
	if err != nil {
		return nil, fmt.Errorf("making the serving certificate request: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// Parse reads one PEM CERTIFICATE REQUEST, with nothing but white space around it, and
// checks its signature.
func Parse(pemBytes []byte) (*x509.CertificateRequest, error) {
	if len(pemBytes) > agentmsg.MaxCSRSize {
		return nil, fmt.Errorf("a certificate request of %d bytes is over %d", len(pemBytes), agentmsg.MaxCSRSize)
	}
	block, rest := pem.Decode(pemBytes)
	switch {
	case block == nil:
		return nil, errors.New("not a PEM certificate request")
	case block.Type != "CERTIFICATE REQUEST":
		return nil, fmt.Errorf("a PEM %s, not a CERTIFICATE REQUEST", block.Type)
	case len(bytes.TrimSpace(rest)) > 0:
		return nil, errors.New("more than one PEM block")
	case len(block.Headers) > 0:
		return nil, errors.New("a PEM certificate request with headers")
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a certificate request: %w", err)
	}
	if err := checkKey(req.PublicKey); err != nil {
		return nil, err
	}
	if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("the certificate request's signature: %w", err)
	}
	return req, nil
}

// checkKey takes the keys TLS clients verify everywhere: ECDSA P-256 and P-384, RSA of
// 2048 to 4096 bits.
func checkKey(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return fmt.Errorf("an ECDSA key on %s: only P-256 and P-384 are taken", k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return fmt.Errorf("an RSA key of %d bits: only %d to %d are taken", bits, minRSABits, maxRSABits)
		}
	default:
		return fmt.Errorf("a %T key: only ECDSA (P-256, P-384) and RSA keys are taken", pub)
	}
	return nil
}

// Check says whether the manager may file and approve req for the Node node of an agent
// whose names are allowed: the subject is exactly CN system:node:<node>, O system:nodes;
// the subject alternative names are some of allowed, at least one, and no e-mail
// address or URI; it asks for no extension but those names (usages are the
// CertificateSigningRequest's, which the manager sets).
func Check(req *x509.CertificateRequest, node string, allowed Names) error {
	if err := checkKey(req.PublicKey); err != nil {
		return err
	}
	for _, a := range req.Subject.Names {
		if !a.Type.Equal(oidCommonName) && !a.Type.Equal(oidOrganization) {
			return fmt.Errorf("the subject %q has an attribute other than CN and O (%v)", req.Subject, a.Type)
		}
	}
	if want := CommonNamePrefix + node; node == "" || req.Subject.CommonName != want {
		return fmt.Errorf("the common name %q is not %q, the Node of the agent the request came from", req.Subject.CommonName, want)
	}
	if !slices.Equal(req.Subject.Organization, []string{Organization}) {
		return fmt.Errorf("the organizations %q are not [%s]", req.Subject.Organization, Organization)
	}
	if len(req.EmailAddresses) > 0 || len(req.URIs) > 0 {
		return errors.New("the request names e-mail addresses or URIs: a serving certificate names hosts only")
	}
	if len(req.DNSNames) == 0 && len(req.IPAddresses) == 0 {
		return errors.New("the request names no DNS name or IP address")
	}
	for _, d := range req.DNSNames {
		if !slices.Contains(allowed.DNS, strings.ToLower(d)) {
			return fmt.Errorf("the DNS name %q is not the agent's (%s)", d, allowed)
		}
	}
	for _, ip := range req.IPAddresses {
		if kind := SpecialAddress(ip); kind != "" {
			return fmt.Errorf("the IP address %s is %s, which names no one host: never approved", ip, kind)
		}
		if !slices.ContainsFunc(allowed.IPs, ip.Equal) {
			return fmt.Errorf("the IP address %s is not the agent's (%s)", ip, allowed)
		}
	}
	for _, e := range req.Extensions {
		switch {
		case e.Id.Equal(oidSubjectAltName):
		case e.Id.Equal(oidExtKeyUsage):
			return errors.New("the request asks for extended key usages (client auth, say): a serving certificate's usages are digital signature, key encipherment and server auth, which the manager sets")
		default:
			return fmt.Errorf("the request asks for the extension %v: only subject alternative names are taken", e.Id)
		}
	}
	return nil
}

// CheckUsages says whether usages are exactly Usages, in any order.
func CheckUsages(usages []certificatesv1.KeyUsage) error {
	got := slices.Clone(usages)
	slices.Sort(got)
	want := slices.Clone(Usages)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return fmt.Errorf("the usages %q are not %q", usages, Usages)
	}
	return nil
}

// ObjectName is the name of the CertificateSigningRequest the manager files for a
// request of cluster's Node node: the same request, sent again while one is pending,
// finds the object made for it rather than making another.
func ObjectName(cluster, node string, request []byte) string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(cluster), []byte(node), request} {
		h.Write(part)
		h.Write([]byte{0})
	}
	sum := hex.EncodeToString(h.Sum(nil))[:20]
	// A Node's name is a DNS subdomain; cut, it is still one once no dot or dash ends it.
	prefix := node
	if len(prefix) > 200 {
		prefix = prefix[:200]
	}
	return strings.TrimRight(prefix, "-.") + "-serving-" + sum
}

// ApprovalMessage is the message of the manager's Approved condition: what it checked.
func ApprovalMessage(node, agentID string, names Names) string {
	return fmt.Sprintf("k8sm approved this for the Node %s of Mesos agent %s: the subject is CN %s%s, O %s, the names (%s) are the agent's as Mesos reports them, the usages digital signature, key encipherment and server auth",
		node, agentID, CommonNamePrefix, node, Organization, names)
}
