package scheduler

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentmsg"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/kubeletauth"
	"github.com/k8sm/k8sm/internal/servingcert"
)

// fakeSigner issues "issued" for every request, or fails with err; while hold is open
// it waits.
type fakeSigner struct {
	err  error
	hold chan struct{}

	mu    sync.Mutex
	asked []kubeletauth.SignRequest
}

func (f *fakeSigner) Sign(ctx context.Context, r kubeletauth.SignRequest) ([]byte, error) {
	f.mu.Lock()
	f.asked = append(f.asked, r)
	f.mu.Unlock()
	if f.hold != nil {
		<-f.hold
	}
	if f.err != nil {
		return nil, f.err
	}
	return []byte("issued"), nil
}

func (f *fakeSigner) requests() []kubeletauth.SignRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]kubeletauth.SignRequest(nil), f.asked...)
}

// csrAgents are the agents the framework knows: agent-1 (10.0.0.7), agent-2, one whose
// hostname is the kubernetes Service's IP (--hostname=10.96.0.1), and one on loopback.
var csrAgents = map[string]framework.Agent{
	"a1": {ID: "a1", Hostname: "agent-1", IP: "10.0.0.7"},
	"a2": {ID: "a2", Hostname: "agent-2", IP: "10.0.0.8"},
	"a3": {ID: "a3", Hostname: "10.96.0.1", IP: "192.0.2.7"},
	"a4": {ID: "a4", Hostname: "127.0.0.1", IP: "127.0.0.1"},
}

// signingScheduler is a scheduler of cluster "c" whose executors ask for the signer's
// certificates (unless selfSigned), filed with signer.
func signingScheduler(t *testing.T, signer ServingSigner, selfSigned bool) (*Scheduler, func() []string) {
	t.Helper()
	s, rec := newTestScheduler(fakeAPI(t), newFakeDriver())
	s.Signer = signer
	if !selfSigned {
		mc := s.cluster.DeepCopy()
		mc.Spec.KubeletAPI.ServingCertificate = mesosv1alpha1.ServingCertificateKubeletServingSigner
		s.SetCluster(mc)
	}
	return s, func() []string { return drain(rec) }
}

// csrMessage is a ServingCSR for node with the names of hostname and ip.
func csrMessage(t *testing.T, id, node, hostname, ip string) []byte {
	t.Helper()
	return csrMessageNaming(t, id, node, servingcert.AgentNames(hostname, ip))
}

// csrMessageNaming is a ServingCSR for node with names.
func csrMessageNaming(t *testing.T, id, node string, names servingcert.Names) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	req, err := servingcert.NewRequest(key, node, names)
	if err != nil {
		t.Fatal(err)
	}
	b, err := agentmsg.Encode(&agentmsg.Message{Kind: agentmsg.KindServingCSR, ID: id, ServingCSR: &agentmsg.ServingCSR{Request: string(req)}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A request of the executor on agent-1 for its own Node and names is filed for that
// Node, cluster and agent, with a year's life asked; the executor gets the certificate
// in an answer of the request's id, and the Node a Normal event.
func TestAServingCSRIsFiledForTheAgentsOwnNode(t *testing.T) {
	signer := &fakeSigner{}
	s, events := signingScheduler(t, signer, false)
	sent := &sentMessages{}
	s.message(context.Background(), sent, csrAgents, "a1", "ex", csrMessage(t, "csr-1", "mesos-c-agent-1", "agent-1", "10.0.0.7"))

	ans, to := sent.wait(t)
	if to != "a1/ex" || ans.Kind != agentmsg.KindServingCertificate || ans.ID != "csr-1" || ans.ServingCertificate.Certificate != "issued" {
		t.Fatalf("sent %+v (%+v) to %s", ans, ans.ServingCertificate, to)
	}
	asked := signer.requests()
	if len(asked) != 1 {
		t.Fatalf("%d requests filed", len(asked))
	}
	r := asked[0]
	if r.Cluster != "c" || r.Node != "mesos-c-agent-1" || r.AgentID != "a1" || r.Names.String() != "agent-1, 10.0.0.7" || r.ExpirationSeconds != 365*24*3600 {
		t.Errorf("filed %+v", r)
	}
	if ev := events(); len(ev) != 1 || !strings.HasPrefix(ev[0], "Normal ServingCertificateIssued") {
		t.Errorf("events %v", ev)
	}
}

// What an executor asks beyond its own Node and names is refused before anything is
// filed, with the reason in the answer and in one Warning event on the Node per
// warnEvery, however often it is asked.
func TestAServingCSRBeyondTheAgentIsRefused(t *testing.T) {
	cases := []struct {
		name, from string
		data       func(t *testing.T) []byte
		want       string
	}{
		{"another agent's Node", "a1", func(t *testing.T) []byte {
			return csrMessage(t, "x", "mesos-c-agent-2", "agent-1", "10.0.0.7")
		}, `"system:node:mesos-c-agent-2" is not "system:node:mesos-c-agent-1"`},
		{"the other agent's names", "a1", func(t *testing.T) []byte {
			return csrMessage(t, "x", "mesos-c-agent-1", "agent-2", "10.0.0.8")
		}, `"agent-2" is not the agent's`},
		{"an address the agent does not have", "a2", func(t *testing.T) []byte {
			return csrMessage(t, "x", "mesos-c-agent-2", "agent-2", "10.0.0.7")
		}, "10.0.0.7 is not the agent's"},
		{"the IP its hostname is", "a3", func(t *testing.T) []byte {
			return csrMessageNaming(t, "x", "mesos-c-10.96.0.1", servingcert.Names{IPs: []net.IP{net.ParseIP("10.96.0.1")}})
		}, "10.96.0.1 is not the agent's"},
		{"loopback, its address and hostname", "a4", func(t *testing.T) []byte {
			return csrMessageNaming(t, "x", "mesos-c-127.0.0.1", servingcert.Names{IPs: []net.IP{net.ParseIP("127.0.0.1")}})
		}, "127.0.0.1 is a loopback address"},
		{"not a request", "a1", func(t *testing.T) []byte {
			b, _ := agentmsg.Encode(&agentmsg.Message{Kind: agentmsg.KindServingCSR, ID: "x", ServingCSR: &agentmsg.ServingCSR{Request: "hello"}})
			return b
		}, "not a PEM certificate request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			signer := &fakeSigner{}
			s, events := signingScheduler(t, signer, false)
			for i := range 2 {
				sent := &sentMessages{}
				s.message(context.Background(), sent, csrAgents, tc.from, "ex", tc.data(t))
				ans, to := sent.wait(t)
				if to != tc.from+"/ex" || ans.ServingCertificate == nil || ans.ServingCertificate.Certificate != "" || !strings.Contains(ans.ServingCertificate.Error, tc.want) {
					t.Fatalf("answer %d: %+v to %s, want an error saying %q", i, ans.ServingCertificate, to, tc.want)
				}
			}
			if n := len(signer.requests()); n != 0 {
				t.Errorf("%d requests filed", n)
			}
			ev := events()
			if len(ev) != 1 || !strings.HasPrefix(ev[0], "Warning ServingCertificateRefused") || !strings.Contains(ev[0], tc.want) {
				t.Errorf("events %v, want one Warning ServingCertificateRefused with the reason", ev)
			}
		})
	}
}

// A cluster whose executors serve self-signed certificates files nothing, whatever an
// executor asks; a message from an agent the framework does not know is not answered.
func TestServingCSRsFiledOnlyWhenTheClusterSaysSo(t *testing.T) {
	signer := &fakeSigner{}
	s, _ := signingScheduler(t, signer, true)
	sent := &sentMessages{}
	s.message(context.Background(), sent, csrAgents, "a1", "ex", csrMessage(t, "x", "mesos-c-agent-1", "agent-1", "10.0.0.7"))
	if ans, _ := sent.wait(t); !strings.Contains(ans.ServingCertificate.Error, "self-signed") {
		t.Errorf("answer %+v", ans.ServingCertificate)
	}

	s, _ = signingScheduler(t, signer, false)
	sent = &sentMessages{}
	s.message(context.Background(), sent, csrAgents, "a9", "ex", csrMessage(t, "x", "mesos-c-agent-9", "agent-9", "10.0.0.9"))
	if msgs, _ := sent.count(1); len(msgs) != 0 {
		t.Errorf("answered an unknown agent: %+v", msgs[0])
	}
	if n := len(signer.requests()); n != 0 {
		t.Errorf("%d requests filed", n)
	}
}

// A request sent again while it waits for the signer is filed once; what exceeds
// maxSignings under way is dropped.
func TestServingCSRsUnderWayAreBounded(t *testing.T) {
	signer := &fakeSigner{hold: make(chan struct{})}
	s, _ := signingScheduler(t, signer, false)
	sent := &sentMessages{}
	again := csrMessage(t, "x", "mesos-c-agent-1", "agent-1", "10.0.0.7")
	s.message(context.Background(), sent, csrAgents, "a1", "ex", again)
	s.message(context.Background(), sent, csrAgents, "a1", "ex", again)
	for i := range maxSignings + 2 {
		s.message(context.Background(), sent, csrAgents, "a1", fmt.Sprint("ex", i), csrMessage(t, "x", "mesos-c-agent-1", "agent-1", "10.0.0.7"))
	}
	close(signer.hold)
	msgs, _ := sent.count(maxSignings + 1)
	if len(msgs) != maxSignings {
		t.Errorf("%d answers, want %d: one per request under way", len(msgs), maxSignings)
	}
	if n := len(signer.requests()); n != maxSignings {
		t.Errorf("%d requests filed, want %d", n, maxSignings)
	}
}

// A request no signer signs gets the executor the reason, and the Node a Warning.
func TestAServingCSRNoSignerSigns(t *testing.T) {
	signer := &fakeSigner{err: fmt.Errorf("%w: run one", kubeletauth.ErrNotSigned)}
	s, events := signingScheduler(t, signer, false)
	sent := &sentMessages{}
	s.message(context.Background(), sent, csrAgents, "a1", "ex", csrMessage(t, "x", "mesos-c-agent-1", "agent-1", "10.0.0.7"))
	ans, _ := sent.wait(t)
	if !strings.Contains(ans.ServingCertificate.Error, "no signer issued the certificate in time: run one") {
		t.Errorf("answer %+v", ans.ServingCertificate)
	}
	if ev := events(); len(ev) != 1 || !strings.HasPrefix(ev[0], "Warning ServingCertificateNotIssued") || !strings.Contains(ev[0], "self-signed") {
		t.Errorf("events %v", ev)
	}
}
