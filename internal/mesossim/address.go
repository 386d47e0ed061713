package mesossim

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// The address and hostname the master gives in MasterInfo (SUBSCRIBED, ZooKeeper), as
// Mesos's master takes them: its libprocess address, which for a master bound to every
// interface (0.0.0.0) is the first IP its host's name resolves to (libprocess
// process::initialize: gethostname, then net::getIP; the master exits when it cannot
// resolve it), and as hostname that address's name (Master::initialize with the default
// --hostname_lookup: net::getHostname of the IP), or the IP itself when it has none.
// Frameworks reach the leader at that address (k8sm over http): 0.0.0.0 would name no
// host.

// advertise works out the master's address from the one it listens on.
func advertise(addr *net.TCPAddr) (ip net.IP, hostname string, err error) {
	return advertiseWith(addr, hostResolver{Hostname: os.Hostname, LookupIP: net.LookupIP, LookupAddr: net.LookupAddr})
}

// hostResolver is how advertise learns the host's name and addresses (tests replace it).
type hostResolver struct {
	Hostname   func() (string, error)
	LookupIP   func(host string) ([]net.IP, error)
	LookupAddr func(addr string) ([]string, error)
}

// advertiseWith is advertise with the resolver r. A loopback address is named localhost
// without a lookup, as the loopback entry of /etc/hosts names it: a reverse lookup on a
// host with no name server reachable would wait for it.
func advertiseWith(addr *net.TCPAddr, r hostResolver) (ip net.IP, hostname string, err error) {
	ip = addr.IP
	if ip.IsLoopback() {
		return ip, "localhost", nil
	}
	if ip.IsUnspecified() {
		host, err := r.Hostname()
		if err != nil {
			return nil, "", fmt.Errorf("listening on %s: the host's name, to find its address: %w", addr, err)
		}
		ips, err := r.LookupIP(host)
		// IPv4 first, as libprocess's default family (Go reports a socket bound to
		// 0.0.0.0 as [::], dual-stack).
		ip = nil
		for _, cand := range ips {
			if ip == nil || cand.To4() != nil && ip.To4() == nil {
				ip = cand
			}
		}
		if ip == nil {
			return nil, "", fmt.Errorf("listening on %s: cannot find the address of this host, %q (%v), to give frameworks as the master's; listen on an address of it instead", addr, host, err)
		}
	}
	hostname = ip.String()
	if names, err := r.LookupAddr(hostname); err == nil && len(names) > 0 {
		hostname = strings.TrimSuffix(names[0], ".")
	}
	return ip, hostname, nil
}
