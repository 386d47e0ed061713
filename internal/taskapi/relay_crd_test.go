package taskapi

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// With the CRD every replica holds the MesosTasks, each at revisions of its own: one
// that does not lead passes the requests on to the leader, so that a list and the watch
// from its revision are answered at the same replica's, whichever replica each reaches.
// Where no leader is known or reached, and once it leads, it answers from its own.
func TestWithTheCRDAStandbyPassesRequestsOnToTheLeader(t *testing.T) {
	r := newReplicas(t, mesosTask("ns", "a", "id-a", "c1"))
	own := newFixture(t, mesosTask("ns", "b", "id-b", "c1"))
	var leads atomic.Bool
	standby := tlsServer(t, &Handler{Store: own.store, Authenticator: fixedUser{alice}, Authorizer: own.authz,
		Relay: &Relay{Certificate: certificateOf(r.cert), Leader: r.found}, Leads: leads.Load}, r.cert)
	list := func(step string) (name string, rev uint64) {
		t.Helper()
		code, b := get(t, r.client, standby, base+"/namespaces/ns/mesostasks", nil)
		if code != http.StatusOK {
			t.Fatalf("%s: a list through the standby: %d %s", step, code, b)
		}
		l := decode[mesosv1alpha1.MesosTaskList](t, b)
		if len(l.Items) != 1 {
			t.Fatalf("%s: a list through the standby: %+v", step, l.Items)
		}
		rev, err := strconv.ParseUint(l.ResourceVersion, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return l.Items[0].Name, rev
	}

	if name, rev := list("a leader known"); name != "a" || rev != r.leader.store.Revision() {
		t.Errorf("a leader known: answered %s at revision %d, want the leader's a at its revision %d", name, rev, r.leader.store.Revision())
	}
	if len(own.authz.asked) != 0 || len(r.leader.authz.asked) != 1 {
		t.Errorf("authorized %d times by the standby, %d by the leader: want the leader alone", len(own.authz.asked), len(r.leader.authz.asked))
	}

	r.found.set("", errors.New("no other pod is labeled"))
	if name, rev := list("no leader known"); name != "b" || rev != own.store.Revision() {
		t.Errorf("no leader known: answered %s at revision %d, want its own b at its revision %d", name, rev, own.store.Revision())
	}
	if len(own.authz.asked) != 1 {
		t.Errorf("no leader known: the standby authorized %d requests, want the one it answered", len(own.authz.asked))
	}

	// A leader that has not read its MesosTasks yet answers 503.
	unsynced := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, apierrors.NewServiceUnavailable("not read yet"))
	}), r.cert)
	r.found.set(strings.TrimPrefix(unsynced.URL, "https://"), nil)
	if name, _ := list("a leader that answers 503"); name != "b" {
		t.Errorf("a leader that answers 503: answered %s, want its own b", name)
	}

	// One that closes every connection.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dead.Close() })
	go func() {
		for {
			c, err := dead.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	r.found.set(dead.Addr().String(), nil)
	if name, _ := list("the leader not reached"); name != "b" {
		t.Errorf("the leader not reached: answered %s, want its own b", name)
	}

	// With the CRD no replica asks another for itself: a holder of the key that names no
	// user is authenticated by the front proxy and authorized as any client.
	holder := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{*r.cert}}}}
	t.Cleanup(holder.CloseIdleConnections)
	own.authz.namespaces = map[string]bool{}
	if code, b := get(t, holder, standby, base+"/namespaces/ns/mesostasks", nil); code != http.StatusForbidden {
		t.Errorf("a holder of the key naming no user, alice not allowed: %d %s", code, b)
	}
	own.authz.namespaces = map[string]bool{"ns": true}

	leads.Store(true)
	r.found.set(strings.TrimPrefix(r.leaderSrv.URL, "https://"), nil)
	asked := r.found.asked
	if name, _ := list("leading"); name != "b" || r.found.asked != asked {
		t.Errorf("leading: answered %s, the leader looked for %d times: want its own b, no leader looked for", name, r.found.asked-asked)
	}
}
