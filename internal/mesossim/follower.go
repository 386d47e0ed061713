package mesossim

import (
	"encoding/binary"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// Follower is a non-leading master: it answers scheduler and operator API calls with a
// 307 to the leader, or 503 "No leader elected" while it knows none, as Mesos does
// (src/master/http.cpp Master::Http::redirect): the Location is protocol-relative and
// names the leader by its MasterInfo's hostname and port, followed by the request's path
// and query (//hostname:port/api/v1/scheduler?...).
type Follower struct {
	mu     sync.Mutex
	leader string // hostname:port, empty when no leader is known
	ln     net.Listener
	srv    *http.Server
}

// StartFollower serves a follower on addr (e.g. 127.0.0.1:0).
func StartFollower(addr string) (*Follower, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	f := &Follower{ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/scheduler", f.serve)
	mux.HandleFunc("/api/v1", f.serve)
	f.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

// SetLeader names the leading master by its MasterInfo (Master.MasterInfo), as a Mesos
// master learns the leader's from ZooKeeper; nil means none. The redirect names it by
// hostname; one without a hostname by its IP (Mesos looks that IP's name up).
func (f *Follower) SetLeader(info *mesos.MasterInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leader = ""
	if info == nil {
		return
	}
	host := info.GetHostname()
	if host == "" {
		ip := make(net.IP, 4) // MasterInfo.ip is in network byte order (masterInfo)
		binary.LittleEndian.PutUint32(ip, info.IP)
		host = ip.String()
	}
	f.leader = host + ":" + strconv.Itoa(int(info.GetPort()))
}

// URL is the follower's http://host:port.
func (f *Follower) URL() string { return "http://" + f.ln.Addr().String() }

// Close stops the follower.
func (f *Follower) Close() { _ = f.srv.Close() }

func (f *Follower) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	leader := f.leader
	f.mu.Unlock()
	if leader == "" {
		writeError(w, http.StatusServiceUnavailable, "No leader elected")
		return
	}
	w.Header().Set("Location", "//"+leader+r.URL.RequestURI())
	w.WriteHeader(http.StatusTemporaryRedirect)
}
