package controllers

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache/informertest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllertest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
	"github.com/k8sm/k8sm/internal/scheduler"
	"github.com/k8sm/k8sm/internal/taskstore"
)

// A pod deleted while it waits in its cluster's queue leaves the queue as it goes: unbound,
// the API server removes it at once (no grace period), and it has no MesosTask (written
// when Mesos first reports its task) whose going would take it out. Left there, it kept
// offers from being suppressed, was counted pending, and had pods of lower priority
// preempted for it, killed for a pod that was no more. A pod of the same name made again
// keeps its place.
func TestADeletedPodLeavesItsClustersQueue(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sch := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(sch)
	_ = mesosv1alpha1.AddToScheme(sch)
	mc := readyCluster()
	waiting := func(name, uid string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(uid)},
			Spec: corev1.PodSpec{SchedulerName: "mesos", Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"}}}}}
	}
	gone, kept, again := waiting("gone", "u1"), waiting("kept", "u2"), waiting("web-0", "u4")
	earlier := waiting("web-0", "u3") // deleted; "again" took its name
	c := fakePodAPI(interceptor.Funcs{}, mc, kept, again)

	reg := scheduler.NewRegistry()
	defer reg.DropScheduler(mc.Name)
	s := reg.EnsureScheduler(mc.Name, func() *scheduler.Scheduler {
		return scheduler.New(mc, scheduler.Options{Client: c, Recorder: events.NewFakeRecorder(100)})
	})
	for _, p := range []*corev1.Pod{gone, kept, earlier, again} {
		mt, err := podtask.NewMesosTask(p, mc, "")
		if err != nil {
			t.Fatal(err)
		}
		s.Enqueue(ctx, mt, p)
	}

	// Every kind the reconciler watches has its informer before the manager starts (the
	// fake informers are not safe to make concurrently).
	pods := &lockedInformer{FakeInformer: controllertest.NewFakeInformer(controllertest.Synced)}
	informers := &informertest.FakeInformers{Scheme: sch, InformersByGVK: map[schema.GroupVersionKind]toolscache.SharedIndexInformer{}}
	for _, o := range []client.Object{&corev1.Pod{}, &corev1.Namespace{}, &mesosv1alpha1.MesosTask{}, &mesosv1alpha1.MesosCluster{}} {
		gvk, err := apiutil.GVKForObject(o, sch)
		if err != nil {
			t.Fatal(err)
		}
		informers.InformersByGVK[gvk] = controllertest.NewFakeInformer(controllertest.Synced)
		if _, ok := o.(*corev1.Pod); ok {
			informers.InformersByGVK[gvk] = pods
		}
	}
	mgr, err := ctrl.NewManager(&rest.Config{Host: "http://127.0.0.1:1"}, ctrl.Options{
		Scheme:                 sch,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		MapperProvider: func(*rest.Config, *http.Client) (meta.RESTMapper, error) {
			return meta.NewDefaultRESTMapper(nil), nil
		},
		NewCache:  func(*rest.Config, cache.Options) (cache.Cache, error) { return informers, nil },
		NewClient: func(*rest.Config, client.Options) (client.Client, error) { return c, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := (&PodReconciler{Client: c, Registry: reg, Store: taskstore.New(nil)}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// The watches are set up as the manager starts: the deletions are told until they are.
	queued := func() []string {
		var names []string
		for _, p := range []*corev1.Pod{gone, earlier} {
			if s.Pending(podtask.TaskIDFor(p)) {
				names = append(names, p.Name+" (uid "+string(p.UID)+")")
			}
		}
		return names
	}
	for start := time.Now(); len(queued()) > 0; time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("deleted pods are still queued: %v", queued())
		}
		pods.Delete(gone)
		pods.Delete(earlier)
	}
	for _, p := range []*corev1.Pod{kept, again} {
		if !s.Pending(podtask.TaskIDFor(p)) {
			t.Errorf("pod %s (uid %s), which is there, left the queue", p.Name, p.UID)
		}
	}
}

// lockedInformer is a fake informer whose handlers may be added while events are sent to
// them.
type lockedInformer struct {
	*controllertest.FakeInformer
	mu sync.Mutex
}

func (l *lockedInformer) AddEventHandler(h toolscache.ResourceEventHandler) (toolscache.ResourceEventHandlerRegistration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.FakeInformer.AddEventHandler(h)
}

func (l *lockedInformer) AddEventHandlerWithResyncPeriod(h toolscache.ResourceEventHandler, p time.Duration) (toolscache.ResourceEventHandlerRegistration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.FakeInformer.AddEventHandlerWithResyncPeriod(h, p)
}

func (l *lockedInformer) AddEventHandlerWithOptions(h toolscache.ResourceEventHandler, o toolscache.HandlerOptions) (toolscache.ResourceEventHandlerRegistration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.FakeInformer.AddEventHandlerWithOptions(h, o)
}

func (l *lockedInformer) Delete(obj metav1.Object) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.FakeInformer.Delete(obj)
}
