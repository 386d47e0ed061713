package taskapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/user"
)

// With the MesosTasks in memory only the leading replica holds them; with the CRD every
// replica does, but each numbers its revisions its own way, so that a watch from a list's
// revision is answered only by the replica that answered the list. A Service that
// selects every replica (OLM makes such a Service for an APIService it installs), or one
// whose endpoints have not caught up with a new leader yet, sends kube-apiserver's
// requests to a replica that does not lead. That replica relays them to the leader's: it
// has authenticated the front proxy, and passes the user on in headers of its own, over
// TLS with the API's serving certificate as its client certificate. The leader takes
// those headers only from a client that holds the serving certificate's key (the
// replicas share it: one Secret, or OLM's mounted certificate), and authorizes the user
// as it does every request.

// The headers a relayed request names its user in.
const (
	relayedPrefix      = "K8sm-Relayed-"
	relayedUser        = relayedPrefix + "User"
	relayedUID         = relayedPrefix + "Uid"
	relayedGroup       = relayedPrefix + "Group"
	relayedExtraPrefix = relayedPrefix + "Extra-"
)

// LeaderFinder knows where the leading replica serves the API.
type LeaderFinder interface {
	// Address is the leader's host:port.
	Address(ctx context.Context) (string, error)
	// Forget drops what it knows: the leader it named could not be reached.
	Forget()
}

// Relay passes a request on to the leading replica, and on the leader authenticates the
// requests a replica relayed.
type Relay struct {
	// Certificate is the API's serving certificate, which the replicas share.
	Certificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// Reload, if set, reads the serving certificate again (the Secret, or the files):
	// a replica that made a new one holds it before the others read it (peerkey.go).
	Reload func(context.Context)
	Leader LeaderFinder
	Log    logr.Logger

	keys       atomic.Pointer[heldKeys]
	lastReload atomic.Int64
	transport  atomic.Pointer[http.Transport]
}

// replicaUser names a replica that asks for itself (Mirror, Kept), in logs.
const replicaUser = "system:k8sm:replica"

// peer says who a request from another replica is for.
type peer int

const (
	notPeer peer = iota
	// peerRelayed is a request relayed for a user, named in its headers.
	peerRelayed
	// peerReplica is the replica's own request (Mirror): not authorized further, as
	// its holding the serving key lets it name any user anyway.
	peerReplica
)

// Authenticate says whether a request is another replica's: one it relayed, and for
// which user, or its own.
func (r *Relay) Authenticate(req *http.Request) (user.Info, peer) {
	if req.TLS == nil || !r.isPeer(req.Context(), req.TLS.PeerCertificates) {
		return nil, notPeer
	}
	name := req.Header.Get(relayedUser)
	if name == "" {
		return &user.DefaultInfo{Name: replicaUser}, peerReplica
	}
	return &user.DefaultInfo{Name: name, UID: req.Header.Get(relayedUID), Groups: req.Header.Values(relayedGroup),
		Extra: extraOf(req.Header, relayedExtraPrefix)}, peerRelayed
}

// Forward passes req, of user u, on to the leader, and its answer back. Where no leader
// is known or reached, fallback answers instead if set, else 503.
func (r *Relay) Forward(w http.ResponseWriter, req *http.Request, u user.Info, fallback func()) {
	addr, err := r.Leader.Address(req.Context())
	if err != nil {
		if fallback != nil {
			fallback()
			return
		}
		writeStatus(w, apierrors.NewServiceUnavailable("this replica of the manager does not hold the MesosTasks, and knows of no leading replica to pass the request on to: "+err.Error()))
		return
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "https", Host: addr})
			for key := range pr.Out.Header {
				if _, ok := cutPrefixFold(key, relayedPrefix); ok {
					pr.Out.Header.Del(key)
				}
			}
			pr.Out.Header.Del("Authorization")
			setRelayedUser(pr.Out.Header, u)
		},
		Transport: r.roundTripper(),
		// Watches stream: every event is passed on as it comes.
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			if fallback != nil && resp.StatusCode == http.StatusServiceUnavailable {
				// A leader that has not read the MesosTasks yet (it just started):
				// this replica, which holds them too, answers.
				_ = resp.Body.Close()
				return errLeaderUnavailable
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			r.Leader.Forget()
			if req.Context().Err() != nil {
				return
			}
			r.Log.Info("Could not pass a MesosTasks API request on to the leading replica", "leader", addr, "path", req.URL.Path, "error", err.Error())
			if fallback != nil {
				// Nothing was written yet: the round trip failed before an answer.
				fallback()
				return
			}
			writeStatus(w, apierrors.NewServiceUnavailable(fmt.Sprintf("this replica of the manager does not hold the MesosTasks, and could not pass the request on to the leading replica's (%s): %v", addr, err)))
		},
	}
	proxy.ServeHTTP(w, req)
}

// errLeaderUnavailable is a leader's 503, which a replica that holds the MesosTasks
// too answers instead.
var errLeaderUnavailable = errors.New("the leading replica answered 503 Service Unavailable")

// setRelayedUser names u in h.
func setRelayedUser(h http.Header, u user.Info) {
	h.Set(relayedUser, u.GetName())
	if uid := u.GetUID(); uid != "" {
		h.Set(relayedUID, uid)
	}
	for _, g := range u.GetGroups() {
		h.Add(relayedGroup, g)
	}
	for k, values := range u.GetExtra() {
		for _, v := range values {
			h.Add(relayedExtraPrefix+url.PathEscape(k), v)
		}
	}
}

// get asks another replica for url, as a holder of the serving certificate, in JSON; the
// body of its answer if that is 200 OK.
func (r *Relay) get(ctx context.Context, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Transport: r.roundTripper()}).Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, fmt.Errorf("it answered %s: %s", resp.Status, b)
	}
	return resp.Body, nil
}

// How often a relay connection that received nothing is pinged, and how long an
// answer may take.
const (
	relayPingEvery   = 10 * time.Second
	relayPingTimeout = 5 * time.Second
)

// roundTripper reaches the leader over TLS, HTTP/2 where it can, as a holder of the
// serving certificate; the leader has to be one as well.
func (r *Relay) roundTripper() http.RoundTripper {
	if t := r.transport.Load(); t != nil {
		return t
	}
	t := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 5 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
		// A leader whose node went away resets nothing: pings find the connection dead,
		// and the requests and watches relayed over it end, rather than hang until TCP
		// gives up.
		HTTP2: &http.HTTP2Config{SendPingTimeout: relayPingEvery, PingTimeout: relayPingTimeout},
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			// The leader is reached at its pod's address, which its certificate does not
			// name: VerifyConnection checks that it holds the serving certificate's key.
			InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				ctx, cancel := context.WithTimeout(context.Background(), reloadTimeout)
				defer cancel()
				if !r.isPeer(ctx, cs.PeerCertificates) {
					return errors.New("the replica reached does not hold the MesosTasks API's serving certificate")
				}
				return nil
			},
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return r.Certificate(nil) },
		},
	}
	if !r.transport.CompareAndSwap(nil, t) {
		return r.transport.Load()
	}
	return t
}
