package kubeletserve

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sm/k8sm/internal/agentmsg"
	"github.com/k8sm/k8sm/internal/pki"
)

// fakeExecutor stands for the executor and, behind it, the manager: it records the
// messages sent and answers access reviews (allowed for the user "allowed") and token
// reviews (the token "good" is the user "allowed"), unless silent, and serving
// certificate requests with what sign says (nil sign, or a nil answer: none).
type fakeExecutor struct {
	srv *Server

	mu     sync.Mutex
	sent   []*agentmsg.Message
	silent bool
	sign   func(request string) *agentmsg.ServingCertificate
	// hold, when set, keeps each Hello's sending from returning until it is closed.
	hold chan struct{}
}

func (f *fakeExecutor) SendMessage(_ context.Context, data []byte) error {
	m, err := agentmsg.Decode(data)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.sent = append(f.sent, m)
	silent, sign, hold := f.silent, f.sign, f.hold
	f.mu.Unlock()
	if m.Kind == agentmsg.KindHello && hold != nil {
		<-hold
	}
	if m.Kind == agentmsg.KindServingCSR {
		if sign == nil {
			return nil
		}
		if cert := sign(m.ServingCSR.Request); cert != nil {
			b, _ := agentmsg.Encode(&agentmsg.Message{Kind: agentmsg.KindServingCertificate, ID: m.ID, ServingCertificate: cert})
			go f.srv.Message(b)
		}
		return nil
	}
	var ans *agentmsg.Answer
	switch {
	case silent:
	case m.Kind == agentmsg.KindAccessReview:
		ans = &agentmsg.Answer{Allowed: m.AccessReview.User.Name == "allowed", Reason: "only allowed is"}
	case m.Kind == agentmsg.KindTokenReview && m.TokenReview.Token == "good":
		ans = &agentmsg.Answer{Authenticated: true, User: &agentmsg.User{Name: "allowed"}}
	case m.Kind == agentmsg.KindTokenReview:
		ans = &agentmsg.Answer{}
	}
	if ans != nil {
		b, _ := agentmsg.Encode(&agentmsg.Message{Kind: agentmsg.KindAnswer, ID: m.ID, Answer: ans})
		go f.srv.Message(b)
	}
	return nil
}

func (f *fakeExecutor) Pods() []corev1.Pod {
	return []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}}
}

// kinds counts the messages sent, by kind.
func (f *fakeExecutor) kinds() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := map[string]int{}
	for _, m := range f.sent {
		n[m.Kind]++
	}
	return n
}

func (f *fakeExecutor) lastHello() *agentmsg.Hello {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.sent) - 1; i >= 0; i-- {
		if f.sent[i].Kind == agentmsg.KindHello {
			return f.sent[i].Hello
		}
	}
	return nil
}

// startServer runs a Server on 127.0.0.1 with a fake executor, with short intervals.
func startServer(t *testing.T, runtime any) (*Server, *fakeExecutor) {
	t.Helper()
	return startServerOf(t, runtime, "127.0.0.1", "127.0.0.1")
}

// startServerOf runs a Server of an agent whose IP is agentIP, listening on listenHost.
func startServerOf(t *testing.T, runtime any, agentIP, listenHost string) (*Server, *fakeExecutor) {
	t.Helper()
	return startServerIn(t, runtime, agentIP, listenHost, "")
}

// startServerIn runs a Server as startServerOf does, of the executor run whose sandbox
// is sandbox.
func startServerIn(t *testing.T, runtime any, agentIP, listenHost, sandbox string) (*Server, *fakeExecutor) {
	t.Helper()
	f := &fakeExecutor{}
	s := NewServer(f, runtime, agentIP, logr.Discard())
	s.ListenHost, s.Retry, s.HelloEvery, s.ReviewTimeout = listenHost, 50*time.Millisecond, time.Hour, 300*time.Millisecond
	s.Sandbox = sandbox
	f.srv = s
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, f
}

func configure(t *testing.T, s *Server, cfg agentmsg.Config) {
	t.Helper()
	b, err := agentmsg.Encode(&agentmsg.Message{Kind: agentmsg.KindConfig, ID: "c", Config: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	s.Message(b)
}

func freePort(t *testing.T) int32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return int32(l.Addr().(*net.TCPAddr).Port)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
	}
}

// testCA is a CA that signs client certificates.
type testCA struct {
	*pki.CA
	pem string // its certificate, as a Config carries it
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	ca, err := pki.NewCA("test-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{CA: ca, pem: string(ca.CertPEM)}
}

// client is an HTTPS client presenting a certificate for user signed by the CA (none
// when ca is nil), that trusts any server (as an API server without
// --kubelet-certificate-authority does).
func client(t *testing.T, ca *testCA, user string) *http.Client {
	t.Helper()
	tc := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // as the API server does with kubelets by default
	if ca != nil {
		certPEM, keyPEM, err := ca.IssueClient(user, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
}

// get returns the status and body of a GET to 127.0.0.1, or -1 and the error.
func get(c *http.Client, port int32, path string, header ...string) (int, string) {
	return getFrom(c, "127.0.0.1", port, path, header...)
}

// getFrom returns the status and body of a GET to host, or -1 and the error.
func getFrom(c *http.Client, host string, port int32, path string, header ...string) (int, string) {
	req, _ := http.NewRequest(http.MethodGet, "https://"+net.JoinHostPort(host, fmt.Sprint(port))+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return -1, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
