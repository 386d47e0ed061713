package mesossim

import (
	"encoding/binary"
	"net"
	"net/http"
	"strconv"
	"testing"
)

// MasterInfo names the master by an address frameworks can reach it at, and that
// address's name (Mesos: libprocess resolves the host's name for a master bound to
// 0.0.0.0; Master::initialize looks the name of the address up): for a master bound to
// every interface, the host's own address, never 0.0.0.0.
func TestMasterInfoAddress(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:0", "0.0.0.0:0"} {
		m, err := New(Config{Agents: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Start(listen); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		mi := newSched(t, m).subscribe(info()).GetMasterInfo()
		ip := net.ParseIP(mi.GetAddress().GetIP())
		port := strconv.Itoa(int(mi.GetAddress().GetPort()))
		if ip == nil || ip.IsUnspecified() {
			t.Fatalf("%s: master_info.address.ip %q, want an address of the host", listen, mi.GetAddress().GetIP())
		}
		want := ip.String()
		if names, err := net.LookupAddr(want); err == nil && len(names) > 0 {
			want = names[0]
		}
		if mi.GetHostname() != want || mi.GetAddress().GetHostname() != want {
			t.Errorf("%s: hostname %q, address.hostname %q, want %q, the name of %s", listen, mi.GetHostname(), mi.GetAddress().GetHostname(), want, ip)
		}
		if v4 := ip.To4(); v4 == nil || mi.GetIP() != binary.LittleEndian.Uint32(v4) || mi.GetPID() != "master@"+net.JoinHostPort(ip.String(), port) {
			t.Errorf("%s: ip %d, pid %q, do not match address %s", listen, mi.GetIP(), mi.GetPID(), ip)
		}
		resp, err := http.Get("http://" + net.JoinHostPort(ip.String(), port) + "/health")
		if err != nil {
			t.Fatalf("%s: the master at the address it gives: %v", listen, err)
		}
		_ = resp.Body.Close()
		if m.URL() != "http://"+net.JoinHostPort(ip.String(), port) {
			t.Errorf("%s: URL %s, want the address it gives", listen, m.URL())
		}
	}
}
