package kubeletserve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/k8sm/k8sm/executor"
	"github.com/k8sm/k8sm/executor/kubeletapi"
)

// The executors of a cluster on an agent (the old and the new, after a change of
// spec.executor) serve one Node on one port. Whichever holds the port serves the
// others' pods too: each executor serves its own pods to the others on a Unix socket in
// its sandbox, in a directory only its user can enter, so only its user (and root)
// reach it; the holder finds the others among the framework's live executor runs on the
// agent (executor.OtherRuns), authenticates and authorizes each request itself, and
// passes a request for a pod it does not run to the executor that does.

const (
	// peerDir is the directory of the socket in an executor's sandbox, mode 0700.
	peerDir = ".k8sm-kubelet-api"
	// peerSocket is the socket's name in peerDir.
	peerSocket = "sock"
	// peerTimeout bounds a question to another executor (its pods, its usage).
	peerTimeout = 3 * time.Second
)

// servePeers serves this executor's pods to the other executors until ctx ends. A
// sandbox in which no socket can be made is logged: the executor's pods are then served
// only while it holds the port.
func (s *Server) servePeers(ctx context.Context) {
	if s.Sandbox == "" {
		return
	}
	ln, err := listenPeers(s.Sandbox)
	if err != nil {
		s.Log.Error(err, "Cannot serve this executor's pods to the other executors of the agent")
		return
	}
	h := kubeletapi.NewPeerHandler(s.provider(), s.Log)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	defer func() { _ = h.Close(); _ = os.Remove(filepath.Join(s.Sandbox, peerDir, peerSocket)) }()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.Log.Error(err, "Serving this executor's pods to the other executors of the agent ended")
	}
}

// listenPeers listens on the peer socket of sandbox. A socket's path is limited to
// about 100 bytes and Mesos sandboxes are deeper, so the socket is reached through the
// directory's descriptor (/proc/self/fd/N/sock).
func listenPeers(sandbox string) (net.Listener, error) {
	dir := filepath.Join(sandbox, peerDir)
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Remove(filepath.Join(dir, peerSocket)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var ln net.Listener
	err := inDir(dir, func(path string) (err error) {
		ln, err = net.Listen("unix", path)
		return err
	})
	if err != nil {
		return nil, err
	}
	// The path through the descriptor is gone once listening; the socket is removed by
	// its real path.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	return ln, nil
}

// inDir calls f with a short path to the peer socket in dir.
func inDir(dir string, f func(path string) error) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	return f(fmt.Sprintf("/proc/self/fd/%d/%s", d.Fd(), peerSocket))
}

// peers are the other live executor runs of the framework on the agent, as
// kubeletapi.Peers.
type peers struct {
	sandbox string
}

var _ kubeletapi.Peers = peers{}

// peer is another executor run, reached on its socket.
type peer struct {
	sandbox   string
	transport *http.Transport
}

// list returns the other executor runs that serve their pods.
func (p peers) list() []peer {
	var out []peer
	for _, run := range executor.OtherRuns(p.sandbox) {
		dir := filepath.Join(run, peerDir)
		if _, err := os.Stat(filepath.Join(dir, peerSocket)); err != nil || executor.Ended(run) {
			continue
		}
		out = append(out, peer{sandbox: run, transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var c net.Conn
				err := inDir(dir, func(path string) (err error) {
					c, err = (&net.Dialer{}).DialContext(ctx, "unix", path)
					return err
				})
				return c, err
			},
			DisableKeepAlives: true,
		}})
	}
	return out
}

// get decodes the answer of the peer to a GET of path into v.
func (pr peer) get(ctx context.Context, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, peerTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://peer"+path, nil)
	if err != nil {
		return err
	}
	resp, err := pr.transport.RoundTrip(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", path, resp.Status)
	}
	return json.NewDecoder(http.MaxBytesReader(nil, resp.Body, maxPeerAnswer)).Decode(v)
}

// maxPeerAnswer bounds what is read of a peer's pods or usage.
const maxPeerAnswer = 64 << 20

func (pr peer) pods(ctx context.Context) []corev1.Pod {
	var list corev1.PodList
	if err := pr.get(ctx, "/pods", &list); err != nil {
		return nil
	}
	return list.Items
}

func (p peers) Pods(ctx context.Context) []corev1.Pod {
	var out []corev1.Pod
	for _, pr := range p.list() {
		out = append(out, pr.pods(ctx)...)
	}
	return out
}

func (p peers) Stats(ctx context.Context) []kubeletapi.PodStats {
	var out []kubeletapi.PodStats
	for _, pr := range p.list() {
		var st []kubeletapi.PodStats
		if pr.get(ctx, kubeletapi.PeerStatsPath, &st) == nil {
			out = append(out, st...)
		}
	}
	return out
}

// Serving returns a proxy to the executor that runs the pod: the first whose copy has
// not ended, else the first that has one.
func (p peers) Serving(ctx context.Context, namespace, name string, uid types.UID) http.Handler {
	var found *peer
	for _, pr := range p.list() {
		for _, pod := range pr.pods(ctx) {
			if pod.Namespace != namespace || pod.Name != name || (uid != "" && pod.UID != uid) {
				continue
			}
			if !kubeletapi.PodEnded(&pod) {
				return pr.proxy()
			}
			if found == nil {
				found = &pr
			}
		}
	}
	if found == nil {
		return nil
	}
	return found.proxy()
}

// proxy passes requests to the peer as they came, upgrades (exec, attach,
// port-forward) and followed logs included; the caller's credentials stay here.
func (pr peer) proxy() http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: "http", Host: "peer"})
			r.Out.Header.Del("Authorization")
		},
		Transport:     pr.transport,
		FlushInterval: -1,
	}
}
