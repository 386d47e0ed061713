package taskapi

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
)

// startMirror follows found's leader as the standby of r does, until the spec ends or
// elected is closed; done is closed when it stops.
func startMirror(t *testing.T, r *replicas, elected chan struct{}) (m *Mirror, done chan struct{}) {
	t.Helper()
	m = &Mirror{Leader: r.found, Relay: &Relay{Certificate: certificateOf(r.cert)}, Elected: elected, Retry: 50 * time.Millisecond, Log: logr.Discard()}
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() {
		defer close(done)
		_ = m.Start(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return m, done
}

// heldNames is what m holds: name=phase/uid, sorted.
func heldNames(m *Mirror) string {
	var names []string
	for _, mt := range m.Held() {
		names = append(names, mt.Name+"="+mt.Status.MesosState+"/"+string(mt.UID))
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

func eventually(t *testing.T, what string, got func() string, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g := got()
		if g == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q, want %q", what, g, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A standby keeps a copy of the leader's MesosTasks as they change, and stops once it
// leads. The leader lets it watch without asking the API server whether it may.
func TestAStandbyKeepsACopyOfTheLeadersMesosTasks(t *testing.T) {
	r := newReplicas(t, mesosTask("ns", "a", "id-a", "c1"), mesosTask("other", "x", "id-x", "c1"))
	ctx := context.Background()
	uid := func(name, ns string) string {
		return string(r.leader.store.Get(types.NamespacedName{Namespace: ns, Name: name}).UID)
	}
	elected := make(chan struct{})
	m, done := startMirror(t, r, elected)
	eventually(t, "the first copy", func() string { return heldNames(m) },
		"a=TASK_RUNNING/"+uid("a", "ns")+" x=TASK_RUNNING/"+uid("x", "other"))
	if n := len(r.leader.authz.asked); n != 0 {
		t.Errorf("the leader asked whether the standby may watch %d times", n)
	}

	if err := r.leader.c.Create(ctx, mesosTask("ns", "b", "id-b", "c1")); err != nil {
		t.Fatal(err)
	}
	a := r.leader.store.Get(types.NamespacedName{Namespace: "ns", Name: "a"}).DeepCopy()
	a.Status.MesosState = "TASK_FINISHED"
	if err := r.leader.c.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	x := r.leader.store.Get(types.NamespacedName{Namespace: "other", Name: "x"}).DeepCopy()
	if err := r.leader.c.Delete(ctx, x); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the copy after a create, a change and a delete", func() string { return heldNames(m) },
		"a=TASK_FINISHED/"+uid("a", "ns")+" b=TASK_RUNNING/"+uid("b", "ns"))

	close(elected)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the mirror did not stop once its replica leads")
	}
	if got := heldNames(m); !strings.HasPrefix(got, "a=TASK_FINISHED") {
		t.Errorf("the copy once leading: %q", got)
	}
}

// Until a watch has sent every MesosTask the copy is none; a watch of another leader
// replaces the copy whole once it has sent all of its.
func TestACopyIsOfOneLeaderWhole(t *testing.T) {
	r := newReplicas(t, mesosTask("ns", "a", "id-a", "c1"))
	next := newReplicas(t, mesosTask("ns", "c", "id-c", "c1"))
	// The next leader serves with the same certificate as the first.
	srv := tlsServer(t, &Handler{Store: next.leader.store, Authenticator: refuseAll{}, Authorizer: next.leader.authz,
		Relay: &Relay{Certificate: certificateOf(r.cert), Leader: &leaderAt{}}}, r.cert)
	r.found.set(strings.TrimPrefix(r.standbySrv.URL, "https://"), nil) // holds none: 503
	// Started last, the mirror stops first: a server's Close waits for its watches.
	m, _ := startMirror(t, r, make(chan struct{}))
	time.Sleep(200 * time.Millisecond)
	if held := m.Held(); held != nil {
		t.Fatalf("a copy from a replica that holds none: %v", held)
	}
	r.found.set(strings.TrimPrefix(r.leaderSrv.URL, "https://"), nil)
	eventually(t, "the first leader's", func() string { return heldNames(m) },
		"a=TASK_RUNNING/"+string(r.leader.store.Get(types.NamespacedName{Namespace: "ns", Name: "a"}).UID))

	r.found.set(strings.TrimPrefix(srv.URL, "https://"), nil)
	r.leaderSrv.CloseClientConnections()
	eventually(t, "the next leader's", func() string { return heldNames(m) },
		"c=TASK_RUNNING/"+string(next.leader.store.Get(types.NamespacedName{Namespace: "ns", Name: "c"}).UID))
}
