package scheduler

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// A round over many agents sends each agent's ACCEPT once its own pods are bound, in
// the agents' order: the first agents' tasks are launched while the last agents' pods
// are still being bound, not once nearly every pod of the round is.
func TestARoundLaunchesEachAgentOnceItsOwnPodsAreBound(t *testing.T) {
	const agents, perAgent = 20, 10
	d := &acceptTimes{fakeDriver: newFakeDriver()}
	var objs []client.Object
	var pods []*queued
	for i := range agents * perAgent {
		pod, mt := queuedPod(t, fmt.Sprintf("p%03d", i))
		objs = append(objs, pod)
		pods = append(pods, &queued{pod, mt})
	}
	c := fakeAPIWith(t, interceptor.Funcs{SubResourceCreate: func(ctx context.Context, c client.Client, sub string, o, req client.Object, opts ...client.SubResourceCreateOption) error {
		time.Sleep(5 * time.Millisecond) // a binding takes a while: the workers are busy
		defer d.binds.Add(1)
		return bindPod(ctx, c, sub, o, req, opts...)
	}}, objs...)
	// Room for every pod's event: the test's recorder does not drop them, it waits.
	s := New(&mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Status: mesosv1alpha1.MesosClusterStatus{FrameworkID: "fw-1"}},
		Options{Client: c, Recorder: events.NewFakeRecorder(2 * agents * perAgent), Log: logr.Discard(), StartingGrace: -1})
	s.setDriver(d)
	ctx := context.Background()
	for _, q := range pods {
		s.Enqueue(ctx, q.mt, q.pod)
	}
	offers := make([]mesos.Offer, agents)
	for i := range offers {
		offers[i] = agentOffer(fmt.Sprintf("agent-%d", i), perAgent/2+1)
	}

	s.handleNew(ctx, offers)

	d.mu.Lock()
	defer d.mu.Unlock()
	launched := 0
	for _, a := range d.sent {
		launched += a.tasks
	}
	if len(d.sent) < agents/2 || launched != int(d.binds.Load()) {
		t.Fatalf("%d ACCEPTs launched %d tasks for %d bindings; want one ACCEPT an agent, a task a binding", len(d.sent), launched, d.binds.Load())
	}
	// Each ACCEPT goes out once its own pods and those of the ACCEPTs before it are bound,
	// with the bindings of the next ones under way: launchWorkers at a time, twice that
	// for the moments the ACCEPT waits to be sent on a busy machine.
	before := 0
	for i, a := range d.sent {
		before += a.tasks
		if a.bound > int64(before+2*launchWorkers) {
			t.Errorf("ACCEPT %d of %d was sent once %d of %d pods were bound; want at most its own and the earlier ACCEPTs' %d, and %d more",
				i+1, len(d.sent), a.bound, launched, before, 2*launchWorkers)
		}
	}
}

type queued struct {
	pod *corev1.Pod
	mt  *mesosv1alpha1.MesosTask
}

// acceptTimes is a fake driver that notes, for each ACCEPT, how many bindings were made
// when it was sent.
type acceptTimes struct {
	*fakeDriver
	binds atomic.Int64
	mu    sync.Mutex
	sent  []acceptAt
}

type acceptAt struct {
	bound int64
	tasks int
}

func (a *acceptTimes) Launch(ctx context.Context, subscription uint64, offers []mesos.OfferID, tasks []mesos.TaskInfo, refuse time.Duration) error {
	a.mu.Lock()
	a.sent = append(a.sent, acceptAt{bound: a.binds.Load(), tasks: len(tasks)})
	a.mu.Unlock()
	return a.fakeDriver.Launch(ctx, subscription, offers, tasks, refuse)
}
