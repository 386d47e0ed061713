package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// apiProxy stands between the managers and kube-apiserver, on loopback: it passes every
// request on as the manager's user, and while a fault lasts it holds writes back
// (slow-writes) or answers some of them with an error (api-errors): 409 Conflict to an
// update or patch, 500 or 503 before the write is made, 504 after it was made (the
// answer of a write that happened is lost). It answers some reads (GET, LIST, not
// watches) with 429, 500 or 503 (read-errors), and it ends every watch at once, then
// answers some of the watches that resume from a resourceVersion as kube-apiserver does
// one whose version etcd compacted away (break-watches): the client must list again.
// It holds back what the managers read, watch events and answers alike (stale-reads:
// proxy_lag_test.go). Otherwise reads and watches pass, unless kube-apiserver is down
// (restart-apiserver).
type apiProxy struct {
	rp  *httputil.ReverseProxy
	srv *http.Server
	url string

	mu          sync.Mutex
	slow        time.Duration
	errRate     float64
	readErrRate float64
	expireRate  float64
	lag         time.Duration
	watches     map[int]context.CancelFunc
	nextWatch   int
	rng         *rand.Rand
	injected    map[string]int
}

// startProxy serves the proxy for the user of cfg (its client certificate) on a free
// loopback port.
func startProxy(cfg *rest.Config, seed int64) (*apiProxy, error) {
	target, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, err
	}
	tr, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &apiProxy{url: "http://" + ln.Addr().String(), rng: rand.New(rand.NewPCG(uint64(seed), 0x70726f7879)), injected: map[string]int{},
		watches: map[int]context.CancelFunc{}}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Del("Authorization")
		},
		Transport:     tr,
		FlushInterval: -1,                         // watches stream
		ErrorLog:      log.New(io.Discard, "", 0), // a watch the manager ends is no error
		ErrorHandler:  p.unreachable,
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *apiProxy) close() { _ = p.srv.Close() }

// kubeconfig writes a kubeconfig that reaches the API server through the proxy.
func (p *apiProxy) kubeconfig(dir string) (string, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["proxy"] = &clientcmdapi.Cluster{Server: p.url}
	kc.AuthInfos["proxy"] = &clientcmdapi.AuthInfo{}
	kc.Contexts["proxy"] = &clientcmdapi.Context{Cluster: "proxy", AuthInfo: "proxy"}
	kc.CurrentContext = "proxy"
	path := filepath.Join(dir, "manager-via-proxy.kubeconfig")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return path, clientcmd.WriteToFile(*kc, path)
}

// setSlow holds every write back for d (0 ends it).
func (p *apiProxy) setSlow(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.slow = d
}

// setErrors answers this share of writes with an error (0 ends it).
func (p *apiProxy) setErrors(rate float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errRate = rate
}

// setReadErrors answers this share of reads (not watches) with an error (0 ends it).
func (p *apiProxy) setReadErrors(rate float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.readErrRate = rate
}

// breakWatches ends every watch going through the proxy now, and answers this share of
// the watches that resume from a resourceVersion with 410 Expired until
// setExpired(0). It says how many watches it ended.
func (p *apiProxy) breakWatches(expireRate float64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expireRate = expireRate
	n := len(p.watches)
	for id, cancel := range p.watches {
		cancel()
		delete(p.watches, id)
	}
	p.injected["watch-broken"] += n
	return n
}

// setExpired answers this share of resumed watches with 410 Expired (0 ends it).
func (p *apiProxy) setExpired(rate float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expireRate = rate
}

// summary says what the proxy injected.
func (p *apiProxy) summary() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var parts []string
	for k, n := range p.injected {
		parts = append(parts, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// decide says how to treat one write: how long to hold it, and which error to answer
// ("" for none).
func (p *apiProxy) decide(method string) (time.Duration, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.slow > 0 {
		p.injected["slow"]++
	}
	if p.errRate <= 0 || p.rng.Float64() >= p.errRate {
		return p.slow, ""
	}
	kinds := []string{"500", "503", "504-after-write"}
	if method == http.MethodPut || method == http.MethodPatch {
		kinds = append(kinds, "409", "409")
	}
	kind := kinds[p.rng.IntN(len(kinds))]
	p.injected[kind]++
	return p.slow, kind
}

// decideRead says which error to answer a read with (writeInjected's kinds, "" for none).
func (p *apiProxy) decideRead() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.readErrRate <= 0 || p.rng.Float64() >= p.readErrRate {
		return ""
	}
	kinds := []string{"429", "500", "503"}
	kind := kinds[p.rng.IntN(len(kinds))]
	p.injected["read-"+kind]++
	return kind
}

// expire says whether to answer a watch that resumes from a resourceVersion as one
// whose version is too old.
func (p *apiProxy) expire(r *http.Request) bool {
	q := r.URL.Query()
	if rv := q.Get("resourceVersion"); rv == "" || rv == "0" || q.Get("sendInitialEvents") == "true" {
		return false // a watch that starts with a list: nothing to expire
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.expireRate <= 0 || p.rng.Float64() >= p.expireRate {
		return false
	}
	p.injected["watch-expired"]++
	return true
}

// watch passes a watch on, ended early by breakWatches.
func (p *apiProxy) watch(w http.ResponseWriter, r *http.Request) {
	if p.expire(r) {
		writeExpired(w, r.URL.Query().Get("resourceVersion"))
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	p.mu.Lock()
	id := p.nextWatch
	p.nextWatch++
	p.watches[id] = cancel
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.watches, id)
		p.mu.Unlock()
	}()
	p.lagged(w, r.WithContext(ctx), true)
}

// read passes a GET on, or answers it with the error decideRead draws.
func (p *apiProxy) read(w http.ResponseWriter, r *http.Request) {
	if v := r.URL.Query().Get("watch"); v == "true" || v == "1" {
		p.watch(w, r)
		return
	}
	if kind := p.decideRead(); kind != "" {
		writeInjected(w, kind)
		return
	}
	p.lagged(w, r, false)
}

func (p *apiProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	case http.MethodGet:
		p.read(w, r)
		return
	default:
		p.rp.ServeHTTP(w, r)
		return
	}
	wait, fail := p.decide(r.Method)
	if wait > 0 {
		select {
		case <-time.After(wait):
		case <-r.Context().Done():
			return
		}
	}
	switch fail {
	case "":
		p.rp.ServeHTTP(w, r)
	case "504-after-write":
		p.rp.ServeHTTP(discard{header: http.Header{}}, r)
		writeStatus(w, http.StatusGatewayTimeout, "Timeout", "Timeout: request did not complete within the allowed duration (injected by the chaos proxy after the write was made)")
	default:
		writeInjected(w, fail)
	}
}

// writeInjected answers a request the proxy fails before passing it on, with the error
// of kind ("409", "429", "500" or "503") as kube-apiserver words it.
func writeInjected(w http.ResponseWriter, kind string) {
	switch kind {
	case "409":
		writeStatus(w, http.StatusConflict, "Conflict", "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again (injected by the chaos proxy)")
	case "429":
		w.Header().Set("Retry-After", "1")
		writeStatus(w, http.StatusTooManyRequests, "TooManyRequests", "Too many requests, please try again later. (injected by the chaos proxy)")
	case "500":
		writeStatus(w, http.StatusInternalServerError, "InternalError", "Internal error occurred: etcdserver: request timed out (injected by the chaos proxy)")
	case "503":
		writeStatus(w, http.StatusServiceUnavailable, "ServiceUnavailable", "the server is currently unable to handle the request (injected by the chaos proxy)")
	}
}

// unreachable answers a request kube-apiserver did not take (restart-apiserver: it is
// down) as a stopped API server does: the connection closes without an answer, rather
// than the proxy's 502, which no client of a real API server sees.
func (p *apiProxy) unreachable(w http.ResponseWriter, r *http.Request, _ error) {
	if r.Context().Err() != nil {
		return // the manager gave up on it: nothing to answer
	}
	p.mu.Lock()
	p.injected["apiserver-unreachable"]++
	p.mu.Unlock()
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	w.WriteHeader(http.StatusBadGateway)
}

// writeStatus answers as kube-apiserver does when a request fails: a Status object.
func writeStatus(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(failure(code, reason, msg))
}

// failure is the Status kube-apiserver sends of a request that failed.
func failure(code int, reason, msg string) map[string]any {
	return map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": msg, "reason": reason, "code": code,
	}
}

// writeExpired answers a watch as kube-apiserver answers one that resumes from a
// resourceVersion etcd compacted away: a watch stream whose one event is an ERROR with
// a 410 Expired Status (in JSON, which every client of it accepts). The client must
// list again.
func writeExpired(w http.ResponseWriter, rv string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "ERROR",
		"object": failure(http.StatusGone, "Expired", fmt.Sprintf("too old resource version: %s (injected by the chaos proxy)", rv))})
}

// discard is a ResponseWriter that drops the answer of a write the client is told failed.
type discard struct{ header http.Header }

func (d discard) Header() http.Header         { return d.header }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}
