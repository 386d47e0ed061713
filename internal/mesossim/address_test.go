package mesossim

import (
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// A master gives frameworks the address they reach it at: the one it listens on, or,
// listening on every interface, the first address its host's name resolves to (IPv4
// first), named by that address's name, as Mesos's libprocess does; never 0.0.0.0.
func TestAdvertise(t *testing.T) {
	resolver := hostResolver{
		Hostname: func() (string, error) { return "node-1", nil },
		LookupIP: func(host string) ([]net.IP, error) {
			if host != "node-1" {
				return nil, errors.New("no such host")
			}
			return []net.IP{net.ParseIP("fd00::5"), net.ParseIP("10.1.2.3")}, nil
		},
		LookupAddr: func(addr string) ([]string, error) {
			if addr == "10.1.2.3" {
				return []string{"node-1.example."}, nil
			}
			return nil, errors.New("no name")
		},
	}
	noHost := resolver
	noHost.LookupIP = func(string) ([]net.IP, error) { return nil, errors.New("no such host") }
	for _, tc := range []struct {
		name         string
		listen       net.IP
		r            hostResolver
		ip, hostname string
		fails        bool
	}{
		{"loopback", net.ParseIP("127.0.0.1"), resolver, "127.0.0.1", "localhost", false},
		{"an address of the host", net.ParseIP("10.9.9.9"), resolver, "10.9.9.9", "10.9.9.9", false},
		{"every interface", net.IPv4zero, resolver, "10.1.2.3", "node-1.example", false},
		{"every interface, IPv6 socket", net.IPv6unspecified, resolver, "10.1.2.3", "node-1.example", false},
		{"every interface, the host's name unresolved", net.IPv4zero, noHost, "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ip, hostname, err := advertiseWith(&net.TCPAddr{IP: tc.listen, Port: 5050}, tc.r)
			if tc.fails {
				if err == nil {
					t.Fatalf("advertised %s (%s), want an error", ip, hostname)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ip.String() != tc.ip || hostname != tc.hostname {
				t.Errorf("advertised %s (%s), want %s (%s)", ip, hostname, tc.ip, tc.hostname)
			}
		})
	}
}

// MasterInfo and URL name the master at the address it gives, and it answers there.
func TestMasterInfoAddress(t *testing.T) {
	m, err := New(Config{Agents: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	mi := newSched(t, m).subscribe(info()).GetMasterInfo()
	ip := net.ParseIP(mi.GetAddress().GetIP())
	port := strconv.Itoa(int(mi.GetAddress().GetPort()))
	if ip == nil || !ip.Equal(net.IPv4(127, 0, 0, 1)) || mi.GetHostname() != "localhost" || mi.GetAddress().GetHostname() != "localhost" {
		t.Fatalf("master_info address %q, hostname %q, address.hostname %q; want 127.0.0.1, localhost", mi.GetAddress().GetIP(), mi.GetHostname(), mi.GetAddress().GetHostname())
	}
	if v4 := ip.To4(); mi.GetIP() != binary.LittleEndian.Uint32(v4) || mi.GetPID() != "master@"+net.JoinHostPort(ip.String(), port) {
		t.Errorf("ip %d, pid %q, do not match address %s", mi.GetIP(), mi.GetPID(), ip)
	}
	resp, err := http.Get("http://" + net.JoinHostPort(ip.String(), port) + "/health")
	if err != nil {
		t.Fatalf("the master at the address it gives: %v", err)
	}
	_ = resp.Body.Close()
	if m.URL() != "http://"+net.JoinHostPort(ip.String(), port) {
		t.Errorf("URL %s, want the address it gives", m.URL())
	}
}

// MoveTo serves the master on a new address, as another master process that takes the
// lead elsewhere: the old address answers no more, its streams end, and the master names
// the new one (URL, MasterInfo) and answers there.
func TestMoveToServesTheMasterElsewhere(t *testing.T) {
	m := startSim(t, Config{Agents: 1})
	old := m.URL()
	s := newSched(t, m)
	s.subscribe(info())
	if err := m.MoveTo("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if m.URL() == old {
		t.Fatalf("URL %s after the move, the old one", m.URL())
	}
	for e := range s.events { // drained: the stream ends
		_ = e
	}
	if resp, err := http.Get(old + "/health"); err == nil {
		_ = resp.Body.Close()
		t.Errorf("the old address still answers: %s", resp.Status)
	}
	resp, err := http.Get(m.URL() + "/health")
	if err != nil {
		t.Fatalf("the new address: %v", err)
	}
	_ = resp.Body.Close()
	if port := strconv.Itoa(int(m.MasterInfo().GetPort())); !strings.HasSuffix(m.URL(), ":"+port) {
		t.Errorf("MasterInfo's port %s, not the new address's %s", port, m.URL())
	}
}
