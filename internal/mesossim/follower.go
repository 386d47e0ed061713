package mesossim

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Follower is a non-leading master: it answers scheduler and operator API calls with a
// 307 to the leader (Location //host:port/api/v1/scheduler or //host:port/api/v1, as
// Mesos sends it), or 503 while it knows no leader.
type Follower struct {
	mu     sync.Mutex
	leader string // host:port, empty when no leader is known
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

// SetLeader names the leading master by URL (http://host:port); empty means none.
func (f *Follower) SetLeader(url string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leader = strings.TrimPrefix(strings.TrimPrefix(url, "http://"), "https://")
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
		http.Error(w, "No leader elected", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Location", "//"+leader+r.URL.Path)
	w.WriteHeader(http.StatusTemporaryRedirect)
}
