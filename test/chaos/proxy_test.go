package chaos

import (
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
// answer of a write that happened is lost). Reads and watches always pass, unless
// kube-apiserver is down (restart-apiserver).
type apiProxy struct {
	rp  *httputil.ReverseProxy
	srv *http.Server
	url string

	mu       sync.Mutex
	slow     time.Duration
	errRate  float64
	rng      *rand.Rand
	injected map[string]int
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
	p := &apiProxy{url: "http://" + ln.Addr().String(), rng: rand.New(rand.NewPCG(uint64(seed), 0x70726f7879)), injected: map[string]int{}}
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

func (p *apiProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
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
	case "409":
		writeStatus(w, http.StatusConflict, "Conflict", "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again (injected by the chaos proxy)")
	case "500":
		writeStatus(w, http.StatusInternalServerError, "InternalError", "Internal error occurred: etcdserver: request timed out (injected by the chaos proxy)")
	case "503":
		writeStatus(w, http.StatusServiceUnavailable, "ServiceUnavailable", "the server is currently unable to handle the request (injected by the chaos proxy)")
	case "504-after-write":
		p.rp.ServeHTTP(discard{header: http.Header{}}, r)
		writeStatus(w, http.StatusGatewayTimeout, "Timeout", "Timeout: request did not complete within the allowed duration (injected by the chaos proxy after the write was made)")
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
	_ = json.NewEncoder(w).Encode(map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": msg, "reason": reason, "code": code,
	})
}

// discard is a ResponseWriter that drops the answer of a write the client is told failed.
type discard struct{ header http.Header }

func (d discard) Header() http.Header         { return d.header }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}
