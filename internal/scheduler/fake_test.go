package scheduler

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/podtask"
	"github.com/k8sm/k8sm/internal/testapi"
)

// fakeDriver records the calls a Scheduler makes to Mesos.
type fakeDriver struct {
	mu         sync.Mutex
	launchErr  error
	launches   map[string][]string // offer id -> task ids
	accepted   [][]mesos.TaskInfo  // the tasks of each ACCEPT, in order
	declines   map[string]time.Duration
	kills      []string
	reconciles []map[string]string
	// reconcileFails fails that many Reconcile calls (recorded all the same).
	reconcileFails int
	suppress       int
	revive         int
	reconciled     bool
	// subscription is what Subscription says while subscribed (0 once unsubscribed is
	// set: the stream is gone); reconciled is set only for it.
	subscription uint64
	unsubscribed bool
	// refused counts the ACCEPTs and DECLINEs of offers of a subscription that ended: not
	// sent, and not in launches or declines.
	refused int
	// duringLaunch, if set, runs in each Launch once the ACCEPT is recorded, before it
	// returns: what happens while an ACCEPT is under way.
	duringLaunch func()
}

func newFakeDriver() *fakeDriver {
	return &fakeDriver{launches: map[string][]string{}, declines: map[string]time.Duration{}, subscription: 1}
}

func (f *fakeDriver) FrameworkID() string  { return "fw-1" }
func (f *fakeDriver) MasterRegion() string { return "" }
func (f *fakeDriver) Subscribed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.unsubscribed
}
func (f *fakeDriver) Subscription() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unsubscribed {
		return 0
	}
	return f.subscription
}

// endSubscription ends the current subscription: with next, the driver subscribed
// again, else it is not subscribed.
func (f *fakeDriver) endSubscription(next bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if next {
		f.subscription++
	} else {
		f.unsubscribed = true
	}
}
func (f *fakeDriver) SetReconciled(subscription uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reconciled = f.reconciled || subscription == f.subscription
}
func (f *fakeDriver) isReconciled() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reconciled
}
func (f *fakeDriver) reconcileCalls() []map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]string(nil), f.reconciles...)
}
func (f *fakeDriver) Suppress(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.suppress++
	return nil
}
func (f *fakeDriver) Revive(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revive++
	return nil
}
func (f *fakeDriver) Decline(_ context.Context, subscription uint64, ids []mesos.OfferID, refuse time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unsubscribed || subscription != f.subscription {
		f.refused++
		return framework.ErrSubscriptionEnded
	}
	for _, id := range ids {
		f.declines[id.Value] = refuse
	}
	return nil
}

// Launch records the tasks under the offer's id, or under the ids joined by "+" for an
// ACCEPT of several offers.
func (f *fakeDriver) Launch(_ context.Context, subscription uint64, offers []mesos.OfferID, tasks []mesos.TaskInfo, _ time.Duration) error {
	f.mu.Lock()
	during := f.duringLaunch
	defer func() {
		if during != nil {
			during()
		}
	}()
	defer f.mu.Unlock()
	if f.unsubscribed || subscription != f.subscription {
		f.refused++
		return framework.ErrSubscriptionEnded
	}
	if f.launchErr != nil {
		return f.launchErr
	}
	ids := make([]string, len(offers))
	for i, o := range offers {
		ids[i] = o.Value
	}
	key := strings.Join(ids, "+")
	for _, t := range tasks {
		f.launches[key] = append(f.launches[key], t.TaskID.Value)
	}
	f.accepted = append(f.accepted, tasks)
	return nil
}
func (f *fakeDriver) Kill(_ context.Context, taskID, _ string, _ *time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kills = append(f.kills, taskID)
	return nil
}
func (f *fakeDriver) Reconcile(_ context.Context, tasks map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reconciles = append(f.reconciles, tasks)
	if f.reconcileFails > 0 {
		f.reconcileFails--
		return errors.New("the master did not answer within 10s (RequestTimeout)")
	}
	return nil
}

// handleNew runs a round on offers that came on the driver's current subscription, as
// the offer loop does for a batch the driver hands over.
func (s *Scheduler) handleNew(ctx context.Context, offers []mesos.Offer) {
	s.handleOffers(ctx, offerBatch{offers: offers, from: sourceOf(s.currentDriver())})
}

// fakeAPI is a fake API server holding pods and their MesosTasks, which binds pods as
// the Binding subresource does.
func fakeAPI(t *testing.T, objs ...client.Object) client.Client {
	return fakeAPIWith(t, interceptor.Funcs{}, objs...)
}

// fakeAPIWith is fakeAPI with more interceptors, e.g. to record writes.
func fakeAPIWith(t *testing.T, funcs interceptor.Funcs, objs ...client.Object) client.Client {
	t.Helper()
	sch := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(sch)
	_ = mesosv1alpha1.AddToScheme(sch)
	if funcs.SubResourceCreate == nil {
		funcs.SubResourceCreate = bindPod
	}
	// Objects read without a copy are shared, as the cache shares them, and checked
	// unchanged at the test's end.
	return testapi.ShareReads(t, fake.NewClientBuilder().WithScheme(sch).WithObjects(objs...).
		WithStatusSubresource(&corev1.Pod{}).
		WithIndex(&mesosv1alpha1.MesosTask{}, indexer.TaskID, indexer.TaskIDOf).
		WithIndex(&mesosv1alpha1.MesosTask{}, indexer.ClusterRef, indexer.ClusterRefOf).
		WithIndex(&corev1.Pod{}, indexer.PodSchedulerName, indexer.PodSchedulerNameOf).
		WithIndex(&corev1.Pod{}, indexer.PodTaskID, indexer.PodTaskIDOf).
		WithIndex(&corev1.Pod{}, indexer.PodAntiAffinity, indexer.AntiAffinityOf).
		WithIndex(&corev1.Pod{}, indexer.PodNodeName, indexer.AgentNodeOf).
		WithInterceptorFuncs(funcs).Build())
}

// bindPod does what the Binding subresource does: it sets the pod's Node.
func bindPod(ctx context.Context, c client.Client, sub string, o, req client.Object, opts ...client.SubResourceCreateOption) error {
	b, ok := req.(*corev1.Binding)
	if sub != "binding" || !ok {
		return c.SubResource(sub).Create(ctx, o, req, opts...)
	}
	pod := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(o), pod); err != nil {
		return err
	}
	pod.Spec.NodeName = b.Target.Name
	return c.Update(ctx, pod)
}

// podWithTask is a pod asking for cpus and its MesosTask as the Pod reconciler makes it.
func podWithTask(name, cpus string) (*corev1.Pod, *mesosv1alpha1.MesosTask) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{SchedulerName: "mesos", Containers: []corev1.Container{{Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpus), corev1.ResourceMemory: resource.MustParse("32Mi")}}}}}}
	mt := &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: mesosv1alpha1.MesosTaskSpec{ClusterRef: "c", PodUID: string(pod.UID), TaskID: podtask.TaskIDFor(pod),
			Resources: podtask.ResourcesFor(pod), ExecutorID: podtask.ExecutorID(&mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}})}}
	return pod, mt
}

// queuedPair is a scheduler on a fake API and driver with two pods queued in order,
// each with its MesosTask.
type queuedPair struct {
	c            client.Client
	d            *fakeDriver
	s            *Scheduler
	rec          *events.FakeRecorder
	pod1, pod2   *corev1.Pod
	task1, task2 *mesosv1alpha1.MesosTask
}

// queueTwo queues pods name1 and name2 asking for cpus1 and cpus2 (podWithTask).
func queueTwo(t *testing.T, name1, cpus1, name2, cpus2 string) queuedPair {
	t.Helper()
	q := queuedPair{d: newFakeDriver()}
	q.pod1, q.task1 = podWithTask(name1, cpus1)
	q.pod2, q.task2 = podWithTask(name2, cpus2)
	q.c = fakeAPI(t, q.pod1, q.task1, q.pod2, q.task2)
	q.s, q.rec = newTestScheduler(q.c, q.d)
	q.s.Enqueue(context.Background(), q.task1, q.pod1)
	q.s.Enqueue(context.Background(), q.task2, q.pod2)
	return q
}

// newTestScheduler is a Scheduler of cluster "c" over c whose driver is d; its loops do
// not run, so that a test calls each step itself.
func newTestScheduler(c client.Client, d Driver) (*Scheduler, *events.FakeRecorder) {
	rec := events.NewFakeRecorder(100)
	s := New(&mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Status: mesosv1alpha1.MesosClusterStatus{FrameworkID: "fw-1"}},
		Options{Client: c, Recorder: rec, Log: logr.Discard(), StartingGrace: -1})
	s.setDriver(d)
	return s, rec
}

// agentOffer is an offer of agent host with cpus and 1 GiB.
func agentOffer(host string, cpus float64) mesos.Offer {
	role := "*"
	scalar := func(name string, v float64) mesos.Resource {
		return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v},
			AllocationInfo: &mesos.Resource_AllocationInfo{Role: &role}}
	}
	return mesos.Offer{ID: mesos.OfferID{Value: "o-" + host}, AgentID: mesos.AgentID{Value: "a-" + host}, Hostname: host,
		FrameworkID: mesos.FrameworkID{Value: "fw-1"},
		Resources:   []mesos.Resource{scalar("cpus", cpus), scalar("mem", 1024), scalar("disk", 1024)}}
}

var errBroken = errors.New("connection reset")

// launchNow is a launch on an agent just now.
func launchNow(agentID, hostname string) podtask.Launch {
	return podtask.Launch{AgentID: agentID, Hostname: hostname, At: metav1.Now()}
}

// killed is the task ids of the KILLs sent so far.
func (f *fakeDriver) killed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.kills)
}
