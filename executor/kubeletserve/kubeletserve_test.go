package kubeletserve

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sm/k8sm/internal/agentmsg"
)

// An executor says Hello once subscribed, again soon while the manager has not
// answered, and then only every HelloEvery, or when what it serves changes; each Hello
// says the port it serves on.
func TestSaysHelloUntilConfigured(t *testing.T) {
	s, f := startServer(t, nil)
	time.Sleep(150 * time.Millisecond)
	if n := f.kinds()[agentmsg.KindHello]; n != 0 {
		t.Fatalf("%d Hellos before the subscription", n)
	}
	s.Subscribed(mesos.AgentInfo{Hostname: "agent-1"})
	eventually(t, "no Hellos again while unconfigured", func() bool { return f.kinds()[agentmsg.KindHello] >= 3 })

	port := freePort(t)
	configure(t, s, agentmsg.Config{NodeName: "mesos-c-agent-1", Port: port})
	eventually(t, "not serving", func() bool { code, _ := get(client(t, nil, ""), port, "/pods"); return code == http.StatusUnauthorized })
	eventually(t, "no Hello saying the port served", func() bool { h := f.lastHello(); return h != nil && h.Port == port })
	settled := f.kinds()[agentmsg.KindHello]
	time.Sleep(200 * time.Millisecond)
	if n := f.kinds()[agentmsg.KindHello]; n != settled {
		t.Fatalf("%d Hellos after the one saying the port within 200ms, want none before HelloEvery", n-settled)
	}
	s.Subscribed(mesos.AgentInfo{Hostname: "agent-1"})
	eventually(t, "no Hello after the next subscription", func() bool { return f.kinds()[agentmsg.KindHello] > settled })
	if h := f.lastHello(); h.Port != port {
		t.Errorf("the Hello says port %d, want %d", h.Port, port)
	}
}

// What the API server meets: TLS with a certificate for the agent's names; a client
// certificate of the configured CA or a bearer token the manager accepts, authorized by
// the manager; 401 without either, 403 when denied, 503 without an answer; 501 for
// what the runtime cannot do. A new CA is used at once; a new port moves the server; no
// port stops it.
func TestServesAsConfigured(t *testing.T) {
	s, f := startServer(t, nil)
	s.Subscribed(mesos.AgentInfo{Hostname: "agent-1.example"})
	ca1, ca2 := newTestCA(t), newTestCA(t)
	port := freePort(t)
	configure(t, s, agentmsg.Config{NodeName: "mesos-c-agent-1", Port: port, ClientCA: ca1.pem})
	anonymous := client(t, nil, "")
	eventually(t, "not serving", func() bool { code, _ := get(anonymous, port, "/pods"); return code == http.StatusUnauthorized })

	for _, tc := range []struct {
		name   string
		c      *http.Client
		path   string
		header []string
		code   int
		body   string
	}{
		{"a certificate of the CA, allowed", client(t, ca1, "allowed"), "/pods", nil, http.StatusOK, `"name":"p"`},
		{"a certificate of the CA, denied", client(t, ca1, "denied"), "/pods", nil, http.StatusForbidden, "Forbidden (user=denied, verb=get, resource=nodes, subresource(s)=[pods proxy])"},
		{"a certificate of another CA", client(t, ca2, "allowed"), "/pods", nil, http.StatusUnauthorized, "Unauthorized"},
		{"a good bearer token", anonymous, "/pods", []string{"Authorization", "Bearer good"}, http.StatusOK, `"kind":"PodList"`},
		{"a bad bearer token", anonymous, "/pods", []string{"Authorization", "Bearer bad"}, http.StatusUnauthorized, "Unauthorized"},
		{"what the runtime cannot do", client(t, ca1, "allowed"), "/containerLogs/ns/p/c", nil, http.StatusNotImplemented, "not supported by this runtime"},
	} {
		code, body := get(tc.c, port, tc.path, tc.header...)
		if code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("%s: %d %q, want %d with %q", tc.name, code, body, tc.code, tc.body)
		}
	}
	f.mu.Lock()
	sent := append([]*agentmsg.Message(nil), f.sent...)
	f.mu.Unlock()
	for _, m := range sent {
		if m.Kind == agentmsg.KindAccessReview && m.AccessReview.User.Name == "denied" && m.AccessReview.Subresource != "pods" && m.AccessReview.Subresource != "proxy" {
			t.Errorf("asked about nodes/%s for /pods", m.AccessReview.Subresource)
		}
	}

	f.mu.Lock()
	f.silent = true
	f.mu.Unlock()
	if code, _ := get(client(t, ca1, "someone-new"), port, "/pods"); code != http.StatusServiceUnavailable {
		t.Errorf("a question the manager does not answer: %d, want 503", code)
	}
	f.mu.Lock()
	f.silent = false
	f.mu.Unlock()

	conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // reading the certificate
	if err != nil {
		t.Fatal(err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	_ = conn.Close()
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "agent-1.example" || len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) {
		t.Errorf("serving certificate for %v %v, want agent-1.example and 127.0.0.1", leaf.DNSNames, leaf.IPAddresses)
	}

	configure(t, s, agentmsg.Config{NodeName: "mesos-c-agent-1", Port: port, ClientCA: ca2.pem})
	eventually(t, "the new CA is not used", func() bool { code, _ := get(client(t, ca2, "allowed"), port, "/pods"); return code == http.StatusOK })
	if code, _ := get(client(t, ca1, "allowed"), port, "/pods"); code != http.StatusUnauthorized {
		t.Errorf("a certificate of the old CA: %d, want 401", code)
	}

	port2 := freePort(t)
	configure(t, s, agentmsg.Config{NodeName: "mesos-c-agent-1", Port: port2, ClientCA: ca2.pem})
	eventually(t, "not serving on the new port", func() bool { code, _ := get(anonymous, port2, "/pods"); return code == http.StatusUnauthorized })
	if code, _ := get(anonymous, port, "/pods"); code != -1 {
		t.Errorf("still serving on the old port: %d", code)
	}
	configure(t, s, agentmsg.Config{NodeName: "mesos-c-agent-1"})
	eventually(t, "still serving with no port", func() bool { code, _ := get(anonymous, port2, "/pods"); return code == -1 })
	hellos := f.kinds()[agentmsg.KindHello]
	s.Subscribed(mesos.AgentInfo{Hostname: "agent-1.example"})
	eventually(t, "no Hello", func() bool { return f.kinds()[agentmsg.KindHello] > hellos })
	if h := f.lastHello(); h.Port != 0 {
		t.Errorf("serving on %d with no port configured", h.Port)
	}
}

// The manager advertises the port on the agent's Node only while an executor says it
// serves it: an executor says at once, not at its next Hello after HelloEvery, that it
// serves, on which port, and that it serves no more.
func TestSaysAtOnceWhatItServes(t *testing.T) {
	s, f := startServer(t, nil)
	s.Subscribed(mesos.AgentInfo{Hostname: "agent-1"})
	eventually(t, "no Hello", func() bool { return f.kinds()[agentmsg.KindHello] > 0 })
	for _, port := range []int32{freePort(t), freePort(t), 0} {
		configure(t, s, agentmsg.Config{NodeName: "mesos-c-agent-1", Port: port})
		eventually(t, fmt.Sprintf("no Hello saying it serves on port %d", port), func() bool {
			h := f.lastHello()
			return h.Port == port && h.PortTaken == nil
		})
	}
}

// A port that another process holds is tried again until it is free. The executor says
// so in a Hello at once (the manager warns on the Node), and says it serves again once
// it does, without waiting for its next Hello.
func TestRetriesATakenPortAndSaysItIsTaken(t *testing.T) {
	s, f := startServer(t, nil)
	s.Subscribed(mesos.AgentInfo{Hostname: "agent-1"})
	holder, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := int32(holder.Addr().(*net.TCPAddr).Port)
	addr := holder.Addr().String()
	configure(t, s, agentmsg.Config{NodeName: "mesos-c-agent-1", Port: port})
	eventually(t, "no Hello saying the port is taken", func() bool {
		h := f.lastHello()
		return h != nil && h.PortTaken != nil
	})
	if h := f.lastHello(); h.Port != 0 || h.PortTaken.Address != addr || !strings.Contains(h.PortTaken.Error, "in use") {
		t.Fatalf("the Hello says port %d, taken %+v; want none served, %s taken and why", h.Port, *h.PortTaken, addr)
	}
	time.Sleep(200 * time.Millisecond) // a few retries
	if n := f.kinds()[agentmsg.KindHello]; n > 3 {
		t.Errorf("%d Hellos: each retry of the port said Hello", n)
	}
	_ = holder.Close()
	eventually(t, "the port was not taken over", func() bool { code, _ := get(client(t, nil, ""), port, "/pods"); return code == http.StatusUnauthorized })
	eventually(t, "no Hello saying the executor serves again", func() bool {
		h := f.lastHello()
		return h.PortTaken == nil && h.Port == port
	})
}

// A change a Hello would say, found while another Hello is on its way, is said once that
// one is sent, not at the next Hello after HelloEvery.
func TestAChangeFoundWhileAHelloIsSentIsSaidAfterIt(t *testing.T) {
	s, f := startServer(t, nil)
	hold := make(chan struct{})
	f.mu.Lock()
	f.hold = hold
	f.mu.Unlock()
	s.Subscribed(mesos.AgentInfo{Hostname: "agent-1"})
	eventually(t, "no Hello", func() bool { return f.kinds()[agentmsg.KindHello] == 1 })

	holder, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Close() }()
	configure(t, s, agentmsg.Config{NodeName: "mesos-c-agent-1", Port: int32(holder.Addr().(*net.TCPAddr).Port)})
	time.Sleep(200 * time.Millisecond) // the port tried, found taken, while the Hello waits
	if h := f.lastHello(); f.kinds()[agentmsg.KindHello] != 1 || h.PortTaken != nil {
		t.Fatalf("%d Hellos, the last %+v: want only the first, which was on its way", f.kinds()[agentmsg.KindHello], h)
	}
	close(hold)
	eventually(t, "no Hello saying the port is taken", func() bool {
		h := f.lastHello()
		return h.PortTaken != nil && h.PortTaken.Address == holder.Addr().String()
	})
}

// Agents that share a host on addresses of their own (mesos-sim's LoopbackIPs; several
// agents with their own --ip) each serve their own Node on the one port: an executor
// listens on its agent's IP, the address its Node gives the API server.
func TestServesOnTheAgentsAddress(t *testing.T) {
	port := freePort(t)
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		s, _ := startServerOf(t, podsOnly{}, ip, "")
		s.Subscribed(mesos.AgentInfo{Hostname: "agent-" + ip})
		configure(t, s, agentmsg.Config{NodeName: "mesos-c-" + ip, Port: port})
		eventually(t, "not serving on "+ip, func() bool {
			code, _ := getFrom(client(t, nil, ""), ip, port, "/pods")
			return code == http.StatusUnauthorized
		})
	}
	if code, body := getFrom(client(t, nil, ""), "127.0.0.1", port, "/pods"); code != -1 {
		t.Errorf("an executor serves on an address not its agent's: %d %s", code, body)
	}
}

// providerRuntime is a runtime that is a kubeletapi.Provider.
type providerRuntime struct{ podsOnly }

// A runtime that is a Provider serves the pods itself.
func TestUsesTheRuntimesProvider(t *testing.T) {
	rt := providerRuntime{podsOnly{pods: func() []corev1.Pod {
		return []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "from-the-runtime"}}}
	}}}
	s, _ := startServer(t, rt)
	s.Subscribed(mesos.AgentInfo{Hostname: "agent-1"})
	port := freePort(t)
	configure(t, s, agentmsg.Config{NodeName: "mesos-c-agent-1", Port: port})
	eventually(t, "the runtime's pods are not served", func() bool {
		code, body := get(client(t, nil, ""), port, "/pods", "Authorization", "Bearer good")
		return code == http.StatusOK && strings.Contains(body, "from-the-runtime")
	})
}
