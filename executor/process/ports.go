package process

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"

	"github.com/k8sm/k8sm/executor/kubeletapi"
)

// The ports a pod listens on.
//
// A kubelet forwards to any port of the pod's network namespace, which holds the pod's
// listeners and nothing else. The process runtime's pods share the agent's: any port
// would be the agent's loopback, where other namespaces' pods, the Mesos agent's API
// and the executor listen. So port-forward reaches only a socket that a process of the
// pod listens on: the sockets in LISTEN state on the port (/proc/net/tcp and tcp6,
// which name each socket's inode), matched against the sockets the pod's processes hold
// (/proc/<pid>/fd, "socket:[<inode>]"). The pod's processes are found as the runtime
// finds them to kill them (orphans.go): those of its running containers' cgroups, and,
// for a container without one, its process group and what carries its cookie. It is
// cheap: the tables are read line by line for the port's listeners, and the processes
// only when there is one.

// tcpSocket is a TCP socket listening on the port asked for: its local address (IPv4 in
// its 4-byte form, a v4-mapped IPv6 one included) and its socket's inode.
type tcpSocket struct {
	ip    net.IP
	inode uint64
}

// tcpListen is the state "LISTEN" in /proc/net/tcp (TCP_LISTEN, 10).
var tcpListen = []byte("0A")

// parseListeners reads a /proc/net/tcp or tcp6 table and returns its sockets listening
// on port. Each line after the header is "sl local rem st queues timer retrnsmt uid
// timeout inode ...": local is the address as the kernel's 32-bit words in host byte
// order, each as %08X, a colon, and the port as %04X.
func parseListeners(r io.Reader, port uint16) ([]tcpSocket, error) {
	want := []byte(fmt.Sprintf(":%04X", port))
	sc := bufio.NewScanner(r)
	var out []tcpSocket
	f := make([][]byte, 0, 10)
	for first := true; sc.Scan(); first = false {
		if first {
			continue // the header
		}
		f = appendFields(f[:0], sc.Bytes(), 10)
		if len(f) < 10 || !bytes.Equal(f[3], tcpListen) || !bytes.HasSuffix(f[1], want) {
			continue
		}
		ip := parseAddr(f[1][:len(f[1])-len(want)])
		inode, err := strconv.ParseUint(string(f[9]), 10, 64)
		if ip == nil || err != nil || inode == 0 {
			continue
		}
		out = append(out, tcpSocket{ip: ip, inode: inode})
	}
	return out, sc.Err()
}

// appendFields appends to out the first n fields of line, split at its spaces, fewer if
// it has fewer: no copy, and no allocation once out has room for n.
func appendFields(out [][]byte, line []byte, n int) [][]byte {
	for len(out) < n {
		line = bytes.TrimLeft(line, " ")
		if len(line) == 0 {
			break
		}
		end := bytes.IndexByte(line, ' ')
		if end < 0 {
			end = len(line)
		}
		out = append(out, line[:end])
		line = line[end:]
	}
	return out
}

// parseAddr decodes an address of /proc/net/tcp{,6}: one or four 32-bit words in host
// byte order; nil if it is neither.
func parseAddr(h []byte) net.IP {
	if len(h) != 8 && len(h) != 32 {
		return nil
	}
	ip := make(net.IP, len(h)/2)
	for i := 0; i < len(h); i += 8 {
		w, err := strconv.ParseUint(string(h[i:i+8]), 16, 32)
		if err != nil {
			return nil
		}
		binary.NativeEndian.PutUint32(ip[i/2:], uint32(w))
	}
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return ip
}

// dialAddrs are the addresses at which a connection to port reaches one of the pod's
// own listeners (owned, by inode) and no other: a listener's own address, or for a
// wildcard, the loopback of its family (and IPv4's for IPv6's, which takes IPv4
// connections too unless it is IPV6_V6ONLY). An address that another listener on the
// port takes connections for too is left out: which of them gets a connection is the
// kernel's choice (the most specific, or SO_REUSEPORT's spread), not the pod's.
func dialAddrs(ls []tcpSocket, owned map[uint64]bool) []net.IP {
	var mine, others []net.IP
	for _, l := range ls {
		if owned[l.inode] {
			mine = append(mine, l.ip)
		} else {
			others = append(others, l.ip)
		}
	}
	var out []net.IP
	for _, ip := range mine {
		for _, a := range reachAt(ip) {
			if !takenBy(a, others) && !takenBy(a, out) {
				out = append(out, a)
			}
		}
	}
	return out
}

// reachAt is where a connection to a listener on ip is dialled.
func reachAt(ip net.IP) []net.IP {
	switch {
	case ip.Equal(net.IPv4zero):
		return []net.IP{net.IPv4(127, 0, 0, 1).To4()}
	case ip.Equal(net.IPv6unspecified):
		return []net.IP{net.IPv6loopback, net.IPv4(127, 0, 0, 1).To4()}
	}
	return []net.IP{ip}
}

// takenBy says whether a listener on one of ips takes connections to a.
func takenBy(a net.IP, ips []net.IP) bool {
	for _, ip := range ips {
		switch {
		case ip.Equal(a), ip.Equal(net.IPv6unspecified):
			return true
		case ip.Equal(net.IPv4zero) && a.To4() != nil:
			return true
		}
	}
	return false
}

// onAgent are the listeners of ls that take connections made on the agent: on a
// wildcard, a loopback or an address the agent has (local). A process may listen on an
// address the agent does not have (IP_FREEBIND, net.ipv4.ip_nonlocal_bind): a
// connection to that address would leave the agent for whichever host has it, and a
// port-forward would reach that host as the executor, not the pod.
func onAgent(ls []tcpSocket, local func(net.IP) bool) []tcpSocket {
	var out []tcpSocket
	for _, l := range ls {
		if l.ip.IsUnspecified() || l.ip.IsLoopback() || local(l.ip) {
			out = append(out, l)
		}
	}
	return out
}

// agentAddress says whether ip is an address of one of the agent's interfaces.
func agentAddress(ip net.IP) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// listening returns the addresses to dial to reach port on the pod (dialAddrs), or the
// refusal: no process of the pod listens on the port, or another listener on it could
// take the connection instead.
func (p *pod) listening(port uint16) ([]net.IP, error) {
	ls, err := tcpListeners(port)
	if err != nil {
		return nil, err
	}
	ls = onAgent(ls, agentAddress)
	var owned map[uint64]bool
	if len(ls) > 0 {
		inodes := make(map[uint64]bool, len(ls))
		for _, l := range ls {
			inodes[l.inode] = true
		}
		owned = p.ownedSockets(inodes)
	}
	if len(owned) == 0 {
		return nil, kubeletapi.Errorf(http.StatusBadRequest,
			"pod %q has no process listening on TCP port %d at an address of the agent: the process runtime forwards only to a port the pod's own processes listen on", p.pod.Name, port)
	}
	addrs := dialAddrs(ls, owned)
	if len(addrs) == 0 {
		return nil, kubeletapi.Errorf(http.StatusBadRequest,
			"pod %q listens on TCP port %d, but so does a process of the agent that is not the pod's, which a connection could reach instead", p.pod.Name, port)
	}
	return addrs, nil
}
