package process

import (
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
)

// procAddr writes ip:port as /proc/net/tcp{,6} does: the address's 32-bit words in host
// byte order, each %08X, then the port %04X.
func procAddr(ip string, port uint16) string {
	b := net.ParseIP(ip)
	if v4 := b.To4(); v4 != nil && !strings.Contains(ip, ":") {
		b = v4
	}
	var s strings.Builder
	for i := 0; i < len(b); i += 4 {
		fmt.Fprintf(&s, "%08X", binary.NativeEndian.Uint32(b[i:]))
	}
	fmt.Fprintf(&s, ":%04X", port)
	return s.String()
}

// procLine is a line of /proc/net/tcp{,6}.
func procLine(sl int, local, remote, state string, inode uint64) string {
	return fmt.Sprintf("%4d: %s %s %s 00000000:00000000 00:00000000 00000000  1000        0 %d 1 0000000000000000 100 0 0 10 0",
		sl, local, remote, state, inode)
}

func TestParseListeners(t *testing.T) {
	const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
	table := strings.Join([]string{header,
		procLine(0, procAddr("127.0.0.1", 8080), procAddr("0.0.0.0", 0), "0A", 101),
		procLine(1, procAddr("0.0.0.0", 8080), procAddr("0.0.0.0", 0), "0A", 102),
		procLine(2, procAddr("10.1.2.3", 8080), procAddr("0.0.0.0", 0), "0A", 103),
		procLine(3, procAddr("127.0.0.1", 8081), procAddr("0.0.0.0", 0), "0A", 104),       // another port
		procLine(4, procAddr("127.0.0.1", 8080), procAddr("127.0.0.1", 40000), "01", 105), // established
		procLine(5, procAddr("127.0.0.1", 40000), procAddr("127.0.0.1", 8080), "01", 106), // its client
		procLine(6, procAddr("::", 8080), procAddr("::", 0), "0A", 107),                   // tcp6's
		procLine(7, procAddr("::1", 8080), procAddr("::", 0), "0A", 108),                  //
		procLine(8, procAddr("::ffff:127.0.0.2", 8080), procAddr("::", 0), "0A", 109),     // v4-mapped
		procLine(9, procAddr("2001:db8::5", 8080), procAddr("::", 0), "0A", 110),          //
		procLine(10, procAddr("127.0.0.1", 8080), procAddr("0.0.0.0", 0), "0A", 0),        // no inode
		"  12: garbage",
	}, "\n") + "\n"
	got, err := parseListeners(strings.NewReader(table), 8080)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.1 101", "0.0.0.0 102", "10.1.2.3 103", ":: 107", "::1 108", "127.0.0.2 109", "2001:db8::5 110"}
	var gotS []string
	for _, l := range got {
		gotS = append(gotS, fmt.Sprintf("%s %d", l.ip, l.inode))
	}
	if !slices.Equal(gotS, want) {
		t.Errorf("listeners on 8080:\n got %q\nwant %q", gotS, want)
	}
}

// The addresses dialled reach the pod's listener and only it: a wildcard's loopback,
// unless another listener would take connections there.
// A listener on an address the agent does not have is none of the pod's to forward to:
// a connection to it would leave the agent.
func TestOnAgent(t *testing.T) {
	l := func(ip string) tcpSocket { return tcpSocket{ip: net.ParseIP(ip), inode: 1} }
	agents := func(ip net.IP) bool { return ip.Equal(net.ParseIP("10.1.2.3")) }
	for _, tc := range []struct {
		name string
		ip   string
		want bool
	}{
		{"IPv4 wildcard", "0.0.0.0", true},
		{"IPv6 wildcard", "::", true},
		{"IPv4 loopback", "127.0.0.1", true},
		{"another IPv4 loopback", "127.0.0.53", true},
		{"IPv6 loopback", "::1", true},
		{"the agent's address", "10.1.2.3", true},
		{"another host's (IP_FREEBIND)", "10.9.9.9", false},
		{"a metadata service's", "169.254.169.254", false},
	} {
		if got := len(onAgent([]tcpSocket{l(tc.ip)}, agents)) == 1; got != tc.want {
			t.Errorf("%s: kept %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDialAddrs(t *testing.T) {
	l := func(ip string, inode uint64) tcpSocket {
		p := net.ParseIP(ip)
		if v4 := p.To4(); v4 != nil {
			p = v4
		}
		return tcpSocket{ip: p, inode: inode}
	}
	const mine = 1
	for _, tc := range []struct {
		name string
		ls   []tcpSocket
		want []string
	}{
		{"the pod on IPv4 loopback", []tcpSocket{l("127.0.0.1", mine)}, []string{"127.0.0.1"}},
		{"the pod on IPv6 loopback", []tcpSocket{l("::1", mine)}, []string{"::1"}},
		{"the pod on the IPv4 wildcard", []tcpSocket{l("0.0.0.0", mine)}, []string{"127.0.0.1"}},
		{"the pod on the IPv6 wildcard, which may take IPv4 too", []tcpSocket{l("::", mine)}, []string{"::1", "127.0.0.1"}},
		{"the pod on the agent's address", []tcpSocket{l("10.1.2.3", mine)}, []string{"10.1.2.3"}},
		{"the pod on both loopbacks", []tcpSocket{l("127.0.0.1", mine), l("::1", mine)}, []string{"127.0.0.1", "::1"}},
		{"the pod on both wildcards", []tcpSocket{l("0.0.0.0", mine), l("::", mine)}, []string{"127.0.0.1", "::1"}},
		{"another process's socket only", []tcpSocket{l("127.0.0.1", 2)}, nil},
		{"the pod on the agent's address, another on loopback", []tcpSocket{l("10.1.2.3", mine), l("127.0.0.1", 2)}, []string{"10.1.2.3"}},
		{"the pod's wildcard, another's loopback: the more specific wins", []tcpSocket{l("0.0.0.0", mine), l("127.0.0.1", 2)}, nil},
		{"the pod's IPv6 wildcard, another's IPv4 loopback", []tcpSocket{l("::", mine), l("127.0.0.1", 2)}, []string{"::1"}},
		{"the pod's loopback, another's wildcard (SO_REUSEPORT)", []tcpSocket{l("127.0.0.1", mine), l("0.0.0.0", 2)}, nil},
		{"the pod's IPv4 loopback, another's IPv6 wildcard, maybe dual-stack", []tcpSocket{l("127.0.0.1", mine), l("::", 2)}, nil},
		{"the pod's IPv6 loopback, another's IPv4 wildcard", []tcpSocket{l("::1", mine), l("0.0.0.0", 2)}, []string{"::1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, ip := range dialAddrs(tc.ls, map[uint64]bool{mine: true}) {
				got = append(got, ip.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("dialAddrs = %q, want %q", got, tc.want)
			}
		})
	}
}
