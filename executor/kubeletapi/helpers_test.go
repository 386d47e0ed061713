package kubeletapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/rest"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/k8sm/k8sm/executor/podlogs"
	"github.com/k8sm/k8sm/internal/pki"
)

const testNode = "agent-1"

// ca is a certificate authority made for a test.
type ca struct {
	*pki.CA
	pem []byte
}

func newCA(t *testing.T, name string) *ca {
	t.Helper()
	c, err := pki.NewCA(name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &ca{CA: c, pem: c.CertPEM}
}

func (c *ca) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.Cert)
	return p
}

// issued is a certificate and its key, in PEM too.
type issued struct {
	tls             tls.Certificate
	certPEM, keyPEM []byte
}

// issue makes a certificate of c: a client one (CN name, O groups) or, with ips, a
// serving one.
func (c *ca) issue(t *testing.T, name string, groups []string, usage x509.ExtKeyUsage, notAfter time.Time, ips ...net.IP) issued {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := c.Sign(&x509.Certificate{
		Subject:   pkix.Name{CommonName: name, Organization: groups},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
	}, &key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return issued{tls: pair, certPEM: certPEM, keyPEM: keyPEM}
}

func (c *ca) client(t *testing.T, name string, groups ...string) issued {
	return c.issue(t, name, groups, x509.ExtKeyUsageClientAuth, time.Now().Add(time.Hour))
}

// fakeAuthorizer allows what allowed lists, as "user/verb/subresource".
type fakeAuthorizer struct {
	mu      sync.Mutex
	allowed map[string]bool
	err     error
	asked   []string
}

func (f *fakeAuthorizer) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := fmt.Sprintf("%s/%s/%s", a.GetUser().GetName(), a.GetVerb(), a.GetSubresource())
	f.asked = append(f.asked, key)
	if f.err != nil {
		return authorizer.DecisionNoOpinion, "", f.err
	}
	if a.GetResource() != "nodes" || a.GetName() != testNode || a.GetAPIVersion() != "v1" || !a.IsResourceRequest() {
		return authorizer.DecisionDeny, "not this node", nil
	}
	if f.allowed[key] || f.allowed[fmt.Sprintf("%s/*/*", a.GetUser().GetName())] {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

func (f *fakeAuthorizer) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.asked...)
}

// fakeReviewer accepts the tokens it maps to users.
type fakeReviewer struct {
	mu     sync.Mutex
	tokens map[string]string
	err    error
	asked  int
}

func (f *fakeReviewer) Review(_ context.Context, token string) (user.Info, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked++
	if f.err != nil {
		return nil, false, f.err
	}
	name, ok := f.tokens[token]
	if !ok {
		// A review may name a user it does not authenticate.
		return &user.DefaultInfo{Name: "nobody"}, false, nil
	}
	return &user.DefaultInfo{Name: name, Groups: []string{"reviewed"}}, true, nil
}

func (f *fakeReviewer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked
}

// fakeProvider runs pod ns/web (containers app and side, UID uid-1) and ns/other. Its
// logs are podlogs files in dir/<container>; its exec echoes.
type fakeProvider struct {
	dir      string
	checkErr error
	ended    chan struct{}
	stats    Stats
	statsErr error
	// cancelled counts the commands whose context ended after a failed write (emit).
	cancelled atomic.Int32
}

func (f *fakeProvider) Pods() []corev1.Pod {
	return []corev1.Pod{
		{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: types.UID("uid-1")},
			Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "init"}},
				Containers:     []corev1.Container{{Name: "app"}, {Name: "side"}},
			},
		},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "other"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}},
	}
}

func (f *fakeProvider) ContainerLogs(ctx context.Context, namespace, pod, container string, opts *corev1.PodLogOptions, w io.Writer) error {
	return podlogs.Read(ctx, podlogs.Source{Dir: filepath.Join(f.dir, container), Restart: 1, Ended: f.ended}, opts, w)
}

func (f *fakeProvider) CheckStream(context.Context, StreamRequest) error { return f.checkErr }

// Exec echoes: stdin to stdout; the command, to stderr; `exit N` exits N; `emit N M`
// writes N bytes to stdout and M to stderr (emit).
func (f *fakeProvider) Exec(ctx context.Context, namespace, pod, container string, cmd []string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	if len(cmd) == 2 && cmd[0] == "exit" {
		return utilexec.CodeExitError{Err: fmt.Errorf("exit status %s", cmd[1]), Code: int(cmd[1][0] - '0')}
	}
	if len(cmd) == 3 && cmd[0] == "emit" {
		return f.emit(ctx, cmd[1:], stdout, stderr)
	}
	if stderr != nil {
		_, _ = fmt.Fprintf(stderr, "%s/%s/%s %v tty=%v", namespace, pod, container, cmd, tty)
	}
	if tty {
		if size, ok := <-resize; ok {
			_, _ = fmt.Fprintf(stdout, "size %dx%d;", size.Width, size.Height)
		}
	}
	if stdin != nil && stdout != nil {
		_, err := io.Copy(stdout, stdin)
		return err
	}
	return nil
}

// emitEndless, as emit's count, is more than any run returns: a command whose output has
// no end (but the test's memory).
const emitEndless = 4 * maxRunOutput

// emit writes counts[0] bytes to stdout and counts[1] to stderr ("endless": emitEndless),
// 64 KiB at a time. After a failed write it waits for ctx to end (5 s at most), as a
// command the caller kills does, and counts in f.cancelled that it ended.
func (f *fakeProvider) emit(ctx context.Context, counts []string, stdout, stderr io.Writer) error {
	chunk := make([]byte, 64<<10)
	for i, w := range []io.Writer{stdout, stderr} {
		n, err := strconv.Atoi(counts[i])
		if counts[i] == "endless" {
			n, err = emitEndless, nil
		}
		if err != nil {
			return err
		}
		for ; n > 0; n -= len(chunk) {
			if _, err := w.Write(chunk[:min(n, len(chunk))]); err != nil {
				select {
				case <-ctx.Done():
					f.cancelled.Add(1)
				case <-time.After(5 * time.Second):
				}
				return err
			}
		}
	}
	return nil
}

func (f *fakeProvider) Attach(_ context.Context, namespace, pod, container string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, _ <-chan remotecommand.TerminalSize) error {
	_, _ = fmt.Fprintf(stdout, "attached to %s/%s/%s;", namespace, pod, container)
	_, err := io.Copy(stdout, stdin)
	return err
}

// PortForward answers "<port>:" then echoes.
func (f *fakeProvider) PortForward(_ context.Context, _, _ string, port int32, stream io.ReadWriteCloser) error {
	defer func() { _ = stream.Close() }()
	if _, err := fmt.Fprintf(stream, "%d:", port); err != nil {
		return err
	}
	_, err := io.Copy(stream, stream)
	return err
}

func (f *fakeProvider) Stats(context.Context) (Stats, error) { return f.stats, f.statsErr }

// testServer is a Server on a local port, with its CA and a client CA.
type testServer struct {
	url      string
	serverCA *ca
	clientCA *ca
	handler  *Handler
	authz    *fakeAuthorizer
	reviewer *fakeReviewer
	provider *fakeProvider
	now      *fakeClock
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	s := &testServer{
		serverCA: newCA(t, "kubelet-serving"), clientCA: newCA(t, "kubelet-client"),
		authz:    &fakeAuthorizer{allowed: map[string]bool{"admin/*/*": true}},
		reviewer: &fakeReviewer{tokens: map[string]string{"good-token": "robot"}},
		provider: &fakeProvider{dir: t.TempDir()},
		now:      &fakeClock{t: time.Now()},
	}
	h, err := NewHandler(Config{
		NodeName: testNode, Provider: s.provider, ClientCAs: s.clientCA.pool(),
		TokenReviewer: s.reviewer, Authorizer: s.authz, Log: logr.Discard(), Now: s.now.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.handler = h
	serving := s.serverCA.issue(t, "agent-1", nil, x509.ExtKeyUsageServerAuth, time.Now().Add(time.Hour), net.IPv4(127, 0, 0, 1))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := &Server{Handler: h, TLS: TLSConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &serving.tls, nil })}
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		_ = h.Close()
	})
	s.url = "https://" + l.Addr().String()
	return s
}

// client returns an HTTP client trusting the server, with cert if not nil.
func (s *testServer) client(cert *issued) *http.Client {
	cfg := &tls.Config{RootCAs: s.serverCA.pool(), MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{cert.tls}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
}

// restConfig is what the API server's streaming clients need to reach the server.
func (s *testServer) restConfig(cert issued) *rest.Config {
	return &rest.Config{Host: s.url, TLSClientConfig: rest.TLSClientConfig{CAData: s.serverCA.pem, CertData: cert.certPEM, KeyData: cert.keyPEM}}
}

// get requests path with method and an optional bearer token.
func (s *testServer) do(t *testing.T, c *http.Client, method, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually polls cond until it holds, failing the test after 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
