package taskapi

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// replicasAt names the other replicas' addresses.
type replicasAt []string

func (r replicasAt) Others(context.Context) ([]string, error) { return r, nil }

// A replica that comes to lead with no copy of its own takes the one another replica
// keeps, past replicas that keep none or cannot be reached. The copy is answered only to
// another replica, and no longer once its keeper leads.
func TestALeaderWithoutACopyTakesAnotherReplicas(t *testing.T) {
	r := newReplicas(t, mesosTask("ns", "a", "id-a", "c1"))
	uid := r.leader.store.Get(types.NamespacedName{Namespace: "ns", Name: "a"}).UID
	keeperElected := make(chan struct{})
	keeper, _ := startMirror(t, r, keeperElected)
	eventually(t, "the keeper's copy", func() string { return heldNames(keeper) }, "a=TASK_RUNNING/"+string(uid))
	keeperSrv := tlsServer(t, withCopy(http.NotFoundHandler(), keeper), r.cert)
	none := &Mirror{Relay: &Relay{Certificate: certificateOf(r.cert)}, Elected: make(chan struct{})}
	noneSrv := tlsServer(t, withCopy(http.NotFoundHandler(), none), r.cert)
	addr := func(s string) string { return strings.TrimPrefix(s, "https://") }

	fresh := &Mirror{Relay: &Relay{Certificate: certificateOf(r.cert)}, Log: logr.Discard(),
		Replicas: replicasAt{addr(noneSrv.URL), "127.0.0.1:1", addr(keeperSrv.URL)}}
	kept := fresh.Kept(context.Background())
	if len(kept) != 1 || kept[0].Name != "a" || kept[0].UID != uid {
		t.Fatalf("the copy taken: %+v", kept)
	}

	if code, b := get(t, r.client, keeperSrv, copyPath, nil); code != http.StatusForbidden {
		t.Errorf("the copy asked for by a client that is no replica: %d %s", code, b)
	}
	close(keeperElected)
	if kept := fresh.Kept(context.Background()); kept != nil {
		t.Errorf("a copy taken from a replica that leads: %+v", kept)
	}
}

// The other replicas are the pods of the namespace, but this one's, that have an IP and
// name a port tasks-api, and are not being deleted.
func TestLeaderPodsFindsTheOtherReplicas(t *testing.T) {
	pod := func(name, ns, ip string, port int32) *corev1.Pod { return replicaPodAt(ns, name, ip, port) }
	deleting := pod("old", "sys", "10.0.0.9", 9443)
	deleting.DeletionTimestamp, deleting.Finalizers = &metav1.Time{Time: time.Now()}, []string{"k8sm.io/test"}
	c := fake.NewClientBuilder().WithObjects(
		pod("self", "sys", "10.0.0.1", 9443), pod("b", "sys", "10.0.0.2", 7443), pod("c", "sys", "fd00::3", 9443),
		pod("no-ip", "sys", "", 9443), pod("not-ours", "sys", "10.0.0.5", 0), pod("elsewhere", "x", "10.0.0.6", 9443), deleting,
	).Build()
	got, err := (&LeaderPods{Reader: c, Namespace: "sys", Self: "self", Port: 9443}).Others(context.Background())
	slices.Sort(got)
	if want := []string{"10.0.0.2:7443", "[fd00::3]:9443"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("the other replicas: %v, %v; want %v", got, err, want)
	}
}
