package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// agentHostsProxy stands for the DNS of a cluster whose agents have hostnames of their
// own: kube-apiserver reaches the agent Nodes through it (its egress selector's cluster
// connection, HTTP CONNECT), and it connects a tunnel to host:port to 127.0.0.1:port
// when host is one of hosts. So the API server dials an agent by its hostname, and
// verifies the executor's serving certificate for that name, though every agent of
// mesos-sim listens on loopback, an address no serving certificate is issued for.
type agentHostsProxy struct {
	ln    net.Listener
	hosts []string
	wg    sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]bool // the connections open, closed when the spec ends
}

// startAgentHostsProxy serves the proxy on a Unix socket in dir until the spec ends, and
// writes the EgressSelectorConfiguration that sends kube-apiserver's cluster traffic
// through it into dir; it returns that file's path.
func startAgentHostsProxy(dir string, hosts ...string) string {
	// A Unix socket: kube-apiserver takes a TCP proxy only over TLS.
	sock := filepath.Join(dir, "egress.sock")
	ln, err := net.Listen("unix", sock)
	Expect(err).NotTo(HaveOccurred())
	p := &agentHostsProxy{ln: ln, hosts: hosts, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	DeferCleanup(p.stop)
	file := filepath.Join(dir, "egress-selector.yaml")
	Expect(os.WriteFile(file, fmt.Appendf(nil, `apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
- name: cluster
  connection:
    proxyProtocol: HTTPConnect
    transport:
      uds:
        udsName: %s
`, sock), 0o600)).To(Succeed())
	return file
}

// stop closes the listener and every connection, and waits for their goroutines.
func (p *agentHostsProxy) stop() {
	_ = p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// track remembers an open connection, or closes it when the proxy stopped.
func (p *agentHostsProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		_ = c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *agentHostsProxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	_ = c.Close()
}

func (p *agentHostsProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.tunnel(c)
		}()
	}
}

// tunnel answers one CONNECT, and copies both ways until either side closes.
func (p *agentHostsProxy) tunnel(c net.Conn) {
	if !p.track(c) {
		return
	}
	defer p.untrack(c)
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	host, port, err := net.SplitHostPort(req.Host)
	known := false
	for _, h := range p.hosts {
		known = known || h == host
	}
	if err != nil || req.Method != http.MethodConnect || !known {
		_, _ = fmt.Fprintf(c, "HTTP/1.1 502 Bad Gateway\r\n\r\nnot an agent: %s\n", req.Host)
		return
	}
	up, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		_, _ = fmt.Fprintf(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n%v\n", err)
		return
	}
	if !p.track(up) {
		return
	}
	defer p.untrack(up)
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, br); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}
