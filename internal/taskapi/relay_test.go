package taskapi

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/pki"
	"github.com/k8sm/k8sm/internal/taskstore"
)

// servingCert is a serving certificate for the API's Service, of a key of its own.
func servingCert(t *testing.T, ca *pki.CA) *tls.Certificate {
	t.Helper()
	return certFor(t, ca, "k8sm-tasks-api", "k8sm-tasks-api.k8sm-system.svc")
}

// certFor is a certificate of ca's for name, of a key of its own.
func certFor(t *testing.T, ca *pki.CA, name string, dnsNames ...string) *tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := ca.IssueServing(name, dnsNames, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

func certificateOf(c *tls.Certificate) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c, nil }
}

// tlsServer serves h over TLS with cert, asking for a client certificate as Server does.
func tlsServer(t *testing.T, h http.Handler, cert *tls.Certificate) *httptest.Server {
	t.Helper()
	return tlsServerOf(t, h, certificateOf(cert))
}

// tlsServerOf is tlsServer with the certificate cert gives at each handshake.
func tlsServerOf(t *testing.T, h http.Handler, cert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	// GetConfigForClient, not GetCertificate: httptest sets Certificates, which crypto/tls
	// serves instead of GetCertificate's to a client that names no server.
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		c, err := cert(hello)
		if err != nil {
			return nil, err
		}
		return &tls.Config{Certificates: []tls.Certificate{*c}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12,
			NextProtos: []string{"h2", "http/1.1"}}, nil
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// leaderAt names one address, and counts how often it was asked and forgotten.
type leaderAt struct {
	mu               sync.Mutex
	addr             string
	err              error
	asked, forgotten int
}

func (l *leaderAt) Address(context.Context) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked++
	return l.addr, l.err
}

func (l *leaderAt) Forget() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forgotten++
}

// set names another address.
func (l *leaderAt) set(addr string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addr, l.err = addr, err
}

// refuseAll is a front proxy whose certificate no request has.
type refuseAll struct{}

func (refuseAll) Authenticate(*http.Request) (user.Info, bool, error) { return nil, false, nil }

// counted allows all or nothing, and counts what it was asked.
type counted struct {
	allow bool
	asked int
}

func (c *counted) Authorize(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
	c.asked++
	if c.allow {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

// replicas is a leader holding MesosTasks and a standby that holds none, both serving
// over TLS with one serving certificate; kube-apiserver's front proxy vouches for alice
// to the standby.
type replicas struct {
	leader       *fixture
	leaderSrv    *httptest.Server
	leaderCert   *heldCert
	standbySrv   *httptest.Server
	standbyAuth  *counted
	standbyCert  *heldCert
	standbyRelay *Relay
	cert         *tls.Certificate
	found        *leaderAt
	client       *http.Client
}

// heldCert is the serving certificate a replica holds. With secret set, reload takes
// the one secret holds, as SelfSigned.Reload reads the Secret again.
type heldCert struct {
	mu      sync.Mutex
	cert    *tls.Certificate
	secret  *heldCert
	reloads int
}

func (h *heldCert) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cert, nil
}

func (h *heldCert) set(c *tls.Certificate) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cert = c
}

func (h *heldCert) reloaded() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reloads
}

// reloader is h's Relay.Reload: nil without a secret.
func (h *heldCert) reloader() func(context.Context) {
	if h.secret == nil {
		return nil
	}
	return func(context.Context) {
		c, _ := h.secret.get(nil)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.cert = c
		h.reloads++
	}
}

var alice = &user.DefaultInfo{Name: "alice", UID: "uid-a", Groups: []string{"devs", "system:authenticated"},
	Extra: map[string][]string{"scopes/read": {"a", "b"}}}

func newReplicas(t *testing.T, objs ...*mesosv1alpha1.MesosTask) *replicas {
	t.Helper()
	cert := servingCert(t, newCA(t))
	return newReplicasOf(t, &heldCert{cert: cert}, &heldCert{cert: cert}, objs...)
}

func newCA(t *testing.T) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA("k8sm-tasks-api-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// newReplicasOf is newReplicas with the certificates each replica holds.
func newReplicasOf(t *testing.T, leaderCert, standbyCert *heldCert, objs ...*mesosv1alpha1.MesosTask) *replicas {
	t.Helper()
	cert, _ := leaderCert.get(nil)
	r := &replicas{leader: newFixture(t, objs...), standbyAuth: &counted{}, found: &leaderAt{}, cert: cert,
		leaderCert: leaderCert, standbyCert: standbyCert}
	r.leaderSrv = tlsServerOf(t, &Handler{Store: r.leader.store, Authenticator: refuseAll{}, Authorizer: r.leader.authz,
		Relay: &Relay{Certificate: leaderCert.get, Reload: leaderCert.reloader(), Leader: &leaderAt{err: errors.New("the leader asks no one")}}}, leaderCert.get)
	r.found.addr = strings.TrimPrefix(r.leaderSrv.URL, "https://")
	r.standbyRelay = &Relay{Certificate: standbyCert.get, Reload: standbyCert.reloader(), Leader: r.found}
	r.standbySrv = tlsServerOf(t, &Handler{Store: taskstore.New(nil), Authenticator: fixedUser{alice}, Authorizer: r.standbyAuth,
		Relay: r.standbyRelay}, standbyCert.get)
	r.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	t.Cleanup(r.client.CloseIdleConnections)
	return r
}

// get is a GET of path from srv through c, with header.
func get(t *testing.T, c *http.Client, srv *httptest.Server, path string, header http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// A replica that does not hold the MesosTasks passes a list and a watch on to the
// leader's, which authorizes the user the front proxy named to the replica, and answers.
func TestAStandbyPassesRequestsOnToTheLeader(t *testing.T) {
	r := newReplicas(t, mesosTask("ns", "a", "id-a", "c1"))
	code, b := get(t, r.client, r.standbySrv, base+"/namespaces/ns/mesostasks", http.Header{relayedUser: {"mallory"}, relayedGroup: {"system:masters"}})
	if code != http.StatusOK {
		t.Fatalf("list through the standby: %d %s", code, b)
	}
	if l := decode[mesosv1alpha1.MesosTaskList](t, b); len(l.Items) != 1 || l.Items[0].Name != "a" {
		t.Errorf("list through the standby: %+v", l.Items)
	}
	asked := r.leader.authz.asked
	if len(asked) != 1 {
		t.Fatalf("the leader authorized %d requests", len(asked))
	}
	u := asked[0].GetUser()
	if u.GetName() != "alice" || u.GetUID() != "uid-a" || !slices.Equal(u.GetGroups(), alice.Groups) ||
		!slices.Equal(u.GetExtra()["scopes/read"], []string{"a", "b"}) || asked[0].GetVerb() != "list" || asked[0].GetNamespace() != "ns" {
		t.Errorf("the leader authorized %+v as %+v", asked[0], u)
	}
	if r.standbyAuth.asked != 0 {
		t.Errorf("the standby authorized %d requests itself", r.standbyAuth.asked)
	}

	req, err := http.NewRequest(http.MethodGet, r.standbySrv.URL+base+"/namespaces/ns/mesostasks?watch=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ws := streamOf(t, resp)
	if got := ws.next(t); got != "ADDED a" {
		t.Fatalf("the watch's first event: %s", got)
	}
	if err := r.leader.c.Create(context.Background(), mesosTask("ns", "b", "id-b", "c1")); err != nil {
		t.Fatal(err)
	}
	if got := ws.next(t); got != "ADDED b" {
		t.Errorf("the watch's event as the leader adds a MesosTask: %s", got)
	}
}

// The leader takes a relayed request's user only from a client that holds the serving
// certificate's key.
func TestTheLeaderTakesARelayedUserOnlyFromAHolderOfItsKey(t *testing.T) {
	r := newReplicas(t, mesosTask("ns", "a", "id-a", "c1"))
	ca, err := pki.NewCA("another-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other := servingCert(t, ca)
	as := func(c *tls.Certificate) *http.Client {
		cfg := &tls.Config{InsecureSkipVerify: true}
		if c != nil {
			cfg.Certificates = []tls.Certificate{*c}
		}
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		t.Cleanup(client.CloseIdleConnections)
		return client
	}
	relayed := http.Header{relayedUser: {"alice"}}
	for name, c := range map[string]*http.Client{"no certificate": as(nil), "a certificate of another key": as(other)} {
		if code, b := get(t, c, r.leaderSrv, base+"/namespaces/ns/mesostasks", relayed); code != http.StatusUnauthorized {
			t.Errorf("%s: %d %s", name, code, b)
		}
	}
	// The standby's own way in.
	if code, b := get(t, as(r.cert), r.leaderSrv, base+"/namespaces/ns/mesostasks", relayed); code != http.StatusOK {
		t.Errorf("as a holder of the key: %d %s", code, b)
	}
}

// A standby that knows of no leader, or reaches one that does not hold the serving
// certificate's key, answers 503 and asks again next time; a relayed request that finds
// no MesosTasks held is not relayed again.
func TestARequestNotRelayedIsUnavailable(t *testing.T) {
	r := newReplicas(t)
	r.found.set("", errors.New("no other pod is labeled"))
	if code, b := get(t, r.client, r.standbySrv, base+"/mesostasks", nil); code != http.StatusServiceUnavailable ||
		!strings.Contains(string(b), "no other pod is labeled") {
		t.Errorf("no leader: %d %s", code, b)
	}

	ca, err := pki.NewCA("another-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	impostor := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("{}")) }), servingCert(t, ca))
	r.found.set(strings.TrimPrefix(impostor.URL, "https://"), nil)
	if code, b := get(t, r.client, r.standbySrv, base+"/mesostasks", nil); code != http.StatusServiceUnavailable ||
		!strings.Contains(string(b), "does not hold the MesosTasks API's serving certificate") {
		t.Errorf("a replica of another key: %d %s", code, b)
	}
	if r.found.forgotten != 1 {
		t.Errorf("the leader's address forgotten %d times after it failed", r.found.forgotten)
	}

	// The standby relays to a replica that holds no MesosTasks either: itself. It
	// authorizes the request relayed, and does not relay it again.
	r.standbyAuth.allow = true
	r.found.set(strings.TrimPrefix(r.standbySrv.URL, "https://"), nil)
	asked := r.found.asked
	if code, b := get(t, r.client, r.standbySrv, base+"/mesostasks", nil); code != http.StatusServiceUnavailable ||
		!strings.Contains(string(b), "does not hold the MesosTasks (yet)") {
		t.Errorf("relayed to a replica without them: %d %s", code, b)
	}
	if r.found.asked != asked+1 {
		t.Errorf("the leader was looked for %d times for one request", r.found.asked-asked)
	}
}
