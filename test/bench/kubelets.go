package main

import (
	"context"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// kubeletWrites does, for every pod kube-scheduler binds, the least a kubelet writes to
// start it when its image is present: one pod status write (Running, Ready, its
// container running) and three events (Pulled, Created, Started). With it the
// kube-scheduler run does the same kind of work as k8sm's, which is the scheduler and
// the kubelet in one: the pair of figures shows what the API server costs either way.
type kubeletWrites struct {
	c        client.Client
	recorder events.EventRecorder
	stop     func()

	mu      sync.Mutex
	started map[string]bool
	queue   chan *corev1.Pod
}

func newKubeletWrites(ctx context.Context, c client.Client, cfg *rest.Config, workers int) (*kubeletWrites, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.ContentType = runtime.ContentTypeProtobuf // as kubelets send
	cfg.QPS, cfg.Burst = 1000, 2000
	cs, err := eventsv1client.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	b := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs})
	ctx, cancel := context.WithCancel(ctx)
	if err := b.StartRecordingToSinkWithContext(ctx); err != nil {
		cancel()
		return nil, err
	}
	k := &kubeletWrites{c: c, recorder: b.NewRecorder(clientgoscheme.Scheme, "kubelet"),
		started: map[string]bool{}, queue: make(chan *corev1.Pod, 100000)}
	k.stop = func() { cancel(); b.Shutdown() }
	for range workers {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case p := <-k.queue:
					k.start(ctx, p)
				}
			}
		}()
	}
	return k, nil
}

// saw is told of every pod the bench watches; a newly bound one is started.
func (k *kubeletWrites) saw(p *corev1.Pod) {
	if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodRunning {
		return
	}
	k.mu.Lock()
	seen := k.started[p.Name]
	k.started[p.Name] = true
	k.mu.Unlock()
	if !seen {
		k.queue <- p.DeepCopy()
	}
}

func (k *kubeletWrites) start(ctx context.Context, p *corev1.Pod) {
	for _, e := range []struct{ reason, note string }{
		{"Pulled", "Container image already present on machine"}, {"Created", "Created container c"}, {"Started", "Started container c"},
	} {
		k.recorder.Eventf(p, nil, corev1.EventTypeNormal, e.reason, e.reason, "%s", e.note)
	}
	now := metav1.Now()
	_ = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cond := func(t corev1.PodConditionType) corev1.PodCondition {
			return corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now}
		}
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, HostIP: "127.0.0.1", PodIP: "127.0.0.1", StartTime: &now,
			Conditions: []corev1.PodCondition{cond(corev1.PodInitialized), cond(corev1.PodReady), cond(corev1.ContainersReady), cond(corev1.PodScheduled)},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Ready: true, Started: new(true), Image: "busybox", ImageID: "busybox",
				ContainerID: "containerd://" + string(p.UID), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}}
		err := k.c.Status().Update(ctx, p)
		if err != nil {
			fresh := &corev1.Pod{}
			if k.c.Get(ctx, client.ObjectKeyFromObject(p), fresh) == nil {
				p = fresh
			}
		}
		return err
	})
}

// kubeletLeaseRenew is how often a kubelet renews its Node's Lease: a quarter of its
// 40 s duration.
const kubeletLeaseRenew = 10 * time.Second

// renewNodeLeases creates a Lease in kube-node-lease for each Node, as its kubelet
// would, and renews each every kubeletLeaseRenew until stop is called: the heartbeat
// kubelets write all the time, as k8sm's manager does for its agents' Nodes, which its
// run pays for.
func renewNodeLeases(ctx context.Context, c client.Client, nodes []string) (stop func(), err error) {
	leases := make([]*coordinationv1.Lease, len(nodes))
	for i, n := range nodes {
		now := metav1.NewMicroTime(time.Now())
		leases[i] = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: corev1.NamespaceNodeLease, Name: n},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(n), LeaseDurationSeconds: ptr.To(int32(40)), RenewTime: &now}}
		if err := c.Create(ctx, leases[i]); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, l := range leases {
		wg.Add(1)
		// Each kubelet on its own, started at its own time.
		go func() {
			defer wg.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(kubeletLeaseRenew * time.Duration(i) / time.Duration(len(leases))):
			}
			t := time.NewTicker(kubeletLeaseRenew)
			defer t.Stop()
			for {
				now := metav1.NewMicroTime(time.Now())
				l.Spec.RenewTime = &now
				_ = c.Update(ctx, l)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	return func() { cancel(); wg.Wait() }, nil
}
