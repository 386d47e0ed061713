package kubeletserve

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/k8sm/k8sm/internal/agentmsg"
	"github.com/k8sm/k8sm/internal/servingcert"
)

// logLines records what a Server logs.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

// startSigningServer runs a Server of agent agent-1.example (192.0.2.7, served on
// 127.0.0.1: a loopback address is never named), subscribed, asking for the signer's
// certificate for the Node mesos-c-agent-1 on a free port.
func startSigningServer(t *testing.T) (*Server, *fakeExecutor, *logLines, int32) {
	t.Helper()
	logs := &logLines{}
	f := &fakeExecutor{}
	s := NewServer(f, nil, "192.0.2.7", funcr.New(func(prefix, args string) {
		logs.mu.Lock()
		logs.lines = append(logs.lines, args)
		logs.mu.Unlock()
	}, funcr.Options{}))
	s.ListenHost, s.Retry, s.HelloEvery, s.ReviewTimeout = "127.0.0.1", 50*time.Millisecond, time.Hour, 300*time.Millisecond
	f.srv = s
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	s.Subscribed(mesos.AgentInfo{Hostname: "agent-1.example"})
	port := freePort(t)
	configure(t, s, agentmsg.Config{NodeName: "mesos-c-agent-1", Port: port, ServingCertificate: agentmsg.ServingCertificateSigner})
	return s, f, logs, port
}

// issue signs the request as the kubelet-serving signer does, for validity.
func (ca *testCA) issue(t *testing.T, request string, validity time.Duration) string {
	t.Helper()
	req, err := servingcert.Parse([]byte(request))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{Subject: req.Subject, DNSNames: req.DNSNames, IPAddresses: req.IPAddresses,
		NotBefore: now.Add(-time.Second), NotAfter: now.Add(validity),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	certPEM, err := ca.Sign(tmpl, req.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(certPEM)
}

// served is the certificate served on port, read without verifying it.
func served(t *testing.T, port int32, serverName string) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))), &tls.Config{ServerName: serverName, InsecureSkipVerify: true}) //nolint:gosec // reading the certificate
	if err != nil {
		return nil
	}
	defer func() { _ = conn.Close() }()
	return conn.ConnectionState().PeerCertificates[0]
}

// verifies says whether the server on port verifies against ca for serverName, as an
// API server with --kubelet-certificate-authority verifies a kubelet.
func verifies(port int32, ca *testCA, serverName string) bool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))), &tls.Config{ServerName: serverName, RootCAs: pool})
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

// csrs are the serving certificate requests sent.
func (f *fakeExecutor) csrs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, m := range f.sent {
		if m.Kind == agentmsg.KindServingCSR {
			out = append(out, m.ServingCSR.Request)
		}
	}
	return out
}

// An executor whose Config asks for the signer's certificate sends a request as a
// kubelet makes one for kubelet-serving, for its Node and its agent's names, and serves
// the certificate it gets back, which verifies against the signer's CA for both names.
// A Config that asks for none brings the self-signed one back.
func TestServesTheSignersCertificate(t *testing.T) {
	ca := newTestCA(t)
	s, f, logs, port := startSigningServer(t)
	f.mu.Lock()
	f.sign = func(req string) *agentmsg.ServingCertificate {
		return &agentmsg.ServingCertificate{Certificate: ca.issue(t, req, time.Hour)}
	}
	f.mu.Unlock()
	eventually(t, "no request sent", func() bool { return len(f.csrs()) > 0 })
	req, err := servingcert.Parse([]byte(f.csrs()[0]))
	if err != nil {
		t.Fatal(err)
	}
	if err := servingcert.Check(req, "mesos-c-agent-1", servingcert.AgentNames("agent-1.example", "192.0.2.7")); err != nil {
		t.Errorf("the request is not a kubelet's for its Node and names: %v", err)
	}
	if len(req.DNSNames) != 1 || len(req.IPAddresses) != 1 {
		t.Errorf("the request names %v %v, want the hostname and the IP", req.DNSNames, req.IPAddresses)
	}
	eventually(t, "the signer's certificate is not served", func() bool {
		return verifies(port, ca, "agent-1.example") && verifies(port, ca, "192.0.2.7")
	})
	if !logs.has("Serving the certificate of the cluster's signer") {
		t.Error("not logged")
	}

	configure(t, s, agentmsg.Config{NodeName: "mesos-c-agent-1", Port: port})
	eventually(t, "the self-signed certificate is not back", func() bool {
		c := served(t, port, "")
		return c != nil && c.Issuer.CommonName == c.Subject.CommonName
	})
}

// Until a certificate arrives the executor serves its self-signed one and asks again,
// with the same request, at growing intervals; an answer it cannot serve (an error,
// another key's certificate, another Node's) leaves the certificate it serves, and is
// logged.
func TestKeepsItsCertificateUntilAGoodAnswer(t *testing.T) {
	ca := newTestCA(t)
	s, f, logs, port := startSigningServer(t)
	eventually(t, "no request sent again", func() bool { return len(f.csrs()) >= 3 })
	reqs := f.csrs()
	if reqs[0] != reqs[1] || reqs[1] != reqs[2] {
		t.Error("a request sent again is not the same request")
	}
	if c := served(t, port, ""); c == nil || c.Issuer.CommonName != c.Subject.CommonName || verifies(port, ca, "192.0.2.7") {
		t.Fatal("not serving the self-signed certificate while no certificate came")
	}

	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // not the executor's
	if err != nil {
		t.Fatal(err)
	}
	otherKeyReq, err := servingcert.NewRequest(otherKey, "mesos-c-agent-1", servingcert.AgentNames("agent-1.example", "192.0.2.7"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ans  agentmsg.ServingCertificate
		log  string
	}{
		{"an error", agentmsg.ServingCertificate{Error: "no signer"}, "no signer"},
		{"another key's certificate", agentmsg.ServingCertificate{Certificate: ca.issue(t, string(otherKeyReq), time.Hour)}, "not for the executor's key"},
		{"not a certificate", agentmsg.ServingCertificate{Certificate: "hello"}, "not PEM certificates"},
	} {
		b, _ := agentmsg.Encode(&agentmsg.Message{Kind: agentmsg.KindServingCertificate, ID: "x", ServingCertificate: &tc.ans})
		s.Message(b)
		if !logs.has(tc.log) {
			t.Errorf("%s: not logged", tc.name)
		}
		if verifies(port, ca, "192.0.2.7") {
			t.Fatalf("%s: served", tc.name)
		}
	}

	// The certificate of the request, once the Config names another Node, is not
	// served either: it is not that Node's.
	configure(t, s, agentmsg.Config{NodeName: "mesos-c-agent-9", Port: port, ServingCertificate: agentmsg.ServingCertificateSigner})
	eventually(t, "no request for the new Node", func() bool {
		all := f.csrs() // once: a request may come between two reads
		r, err := servingcert.Parse([]byte(all[len(all)-1]))
		return err == nil && r.Subject.CommonName == "system:node:mesos-c-agent-9"
	})
	b, _ := agentmsg.Encode(&agentmsg.Message{Kind: agentmsg.KindServingCertificate, ID: "x",
		ServingCertificate: &agentmsg.ServingCertificate{Certificate: ca.issue(t, reqs[0], time.Hour)}})
	s.Message(b)
	if !logs.has(`not \"system:node:mesos-c-agent-9\"`) || verifies(port, ca, "192.0.2.7") {
		t.Error("another Node's certificate was taken")
	}
}

// A certificate is renewed at 70-90% of its life with a new request, and a new
// hostname gets a new request naming it.
func TestRenewsAndFollowsTheNames(t *testing.T) {
	ca := newTestCA(t)
	s, f, _, port := startSigningServer(t)
	f.mu.Lock()
	f.sign = func(req string) *agentmsg.ServingCertificate {
		return &agentmsg.ServingCertificate{Certificate: ca.issue(t, req, 2*time.Second)}
	}
	f.mu.Unlock()
	eventually(t, "not serving the signer's certificate", func() bool { return verifies(port, ca, "agent-1.example") })
	first := served(t, port, "")
	eventually(t, "not renewed", func() bool {
		c := served(t, port, "")
		return c != nil && c.SerialNumber.Cmp(first.SerialNumber) != 0 && verifies(port, ca, "agent-1.example")
	})
	// The first request may go more than once before the signer answers it (it is set
	// after the server starts); the renewal is the last one, and another.
	if reqs := f.csrs(); len(reqs) < 2 || reqs[len(reqs)-1] == reqs[0] {
		t.Error("the renewal sent the answered request again, not a new one")
	}

	f.mu.Lock()
	f.sign = func(req string) *agentmsg.ServingCertificate {
		return &agentmsg.ServingCertificate{Certificate: ca.issue(t, req, time.Hour)}
	}
	f.mu.Unlock()
	s.Subscribed(mesos.AgentInfo{Hostname: "agent-1b.example"})
	eventually(t, "no certificate for the new hostname", func() bool { return verifies(port, ca, "agent-1b.example") })
	if verifies(port, ca, "agent-1.example") {
		t.Error("the old hostname is still served")
	}
}

// A Config that does not ask for the signer's certificate sends no request.
func TestAsksForNoCertificateUnlessConfigured(t *testing.T) {
	s, f := startServer(t, nil)
	s.Subscribed(mesos.AgentInfo{Hostname: "agent-1"})
	port := freePort(t)
	configure(t, s, agentmsg.Config{NodeName: "mesos-c-agent-1", Port: port})
	eventually(t, "not serving", func() bool { return served(t, port, "") != nil })
	s.Subscribed(mesos.AgentInfo{Hostname: "agent-1"})
	eventually(t, "no Hello", func() bool { return f.kinds()[agentmsg.KindHello] >= 2 })
	if n := f.kinds()[agentmsg.KindServingCSR]; n != 0 {
		t.Errorf("%d requests sent", n)
	}
}
