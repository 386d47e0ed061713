package scheduler

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/framework"
)

// inverseAnswers records a driver's answers to inverse offers.
type inverseAnswers struct {
	mu               sync.Mutex
	accepted, denied []string
	refuse           time.Duration
	subscription     uint64
}

func (a *inverseAnswers) AnswerInverseOffers(_ context.Context, subscription uint64, accept bool, ids []mesos.OfferID, refuse time.Duration) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		if accept {
			a.accepted = append(a.accepted, id.Value)
		} else {
			a.denied = append(a.denied, id.Value)
		}
	}
	a.refuse, a.subscription = refuse, subscription
	return nil
}

// An inverse offer is accepted for an agent whose Node has no pod that has not ended
// (one that never had any, one whose pods all ended, one with a DaemonSet's pod alone,
// which a drain leaves), and declined while a pod runs there or when that cannot be told
// (the pods not listed, the agent's Node not known); the answer names the subscription the inverse offers
// came on, and keeps the next away for inverseOfferRefuse.
func TestInverseOffersAcceptedOnceNoPodRunsOnTheAgent(t *testing.T) {
	agents := map[string]framework.Agent{}
	node := map[string]string{}
	for _, h := range []string{"busy", "done", "empty", "broken", "daemons"} {
		agents["a-"+h] = framework.Agent{ID: "a-" + h, Hostname: h}
		node[h] = agentnode.NodeName("c", h, 0)
	}
	running, _ := podWithTask("running", "0.1")
	running.Spec.NodeName, running.Status.Phase = node["busy"], corev1.PodRunning
	ended, _ := podWithTask("ended", "0.1")
	ended.Spec.NodeName, ended.Status.Phase = node["done"], corev1.PodSucceeded
	failed, _ := podWithTask("failed", "0.1")
	failed.Spec.NodeName, failed.Status.Phase = node["done"], corev1.PodFailed
	daemon, _ := podWithTask("daemon", "0.1")
	daemon.Spec.NodeName, daemon.Status.Phase = node["daemons"], corev1.PodRunning
	daemon.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "ds", UID: "ds", Controller: new(true)}}
	c := fakeAPIWith(t, interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		lo := (&client.ListOptions{}).ApplyOptions(opts)
		if lo.FieldSelector != nil && lo.FieldSelector.String() == "spec.nodeName="+node["broken"] {
			return errors.New("cache not synced")
		}
		return c.List(ctx, list, opts...)
	}}, running, ended, failed, daemon)
	s, _ := newTestScheduler(c, newFakeDriver())
	d := &inverseAnswers{}
	var offers []mesos.InverseOffer
	for _, h := range []string{"busy", "done", "empty", "broken", "unknown", "daemons"} {
		offers = append(offers, mesos.InverseOffer{OfferID: mesos.OfferID{Value: "i-" + h}, AgentID: &mesos.AgentID{Value: "a-" + h},
			Unavailability: mesos.Unavailability{Start: mesos.TimeInfo{Nanoseconds: time.Now().Add(time.Hour).UnixNano()}}})
	}
	s.answerInverseOffers(context.Background(), d, 7, agents, offers)
	if want := []string{"i-done", "i-empty", "i-daemons"}; !slices.Equal(d.accepted, want) {
		t.Errorf("accepted %v; want %v", d.accepted, want)
	}
	if want := []string{"i-busy", "i-broken", "i-unknown"}; !slices.Equal(d.denied, want) {
		t.Errorf("declined %v; want %v", d.denied, want)
	}
	if d.subscription != 7 || d.refuse != inverseOfferRefuse {
		t.Errorf("answered on subscription %d, refusing for %v; want 7, %v", d.subscription, d.refuse, inverseOfferRefuse)
	}
}
