package main

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// kubeletMode is what the kube-scheduler run does, as the kubelets, for every pod it binds.
type kubeletMode int

const (
	// noKubelets: nothing; the pod is done once bound.
	noKubelets kubeletMode = iota
	// leastWrites: the least a kubelet writes to start a pod whose image is present: one
	// pod status write (an Update: Running, Ready, its container running) and three
	// events (Pulled, Created, Started).
	leastWrites
	// asKubelet: the requests kubelet 1.37 makes to start such a pod (kubeletModel).
	asKubelet
)

// kubeletModel is what kubelet 1.37 asks of the API server to start a pod bound to it
// whose image is present, per pod: its status manager writes the status three times
// (the sandbox not ready yet, the sandbox ready, the container running and ready), each
// time reading the pod from the API server and sending a strategic merge patch of the
// status, and it records three events. TestKubeletModel checks it against a real kubelet.
var kubeletModel = map[string]float64{"GET pods": 3, "PATCH pods/status": 3, "POST events": 3}

// kubeletWrites does, for every pod kube-scheduler binds, what a kubelet writes to start
// it (kubeletMode). With it the kube-scheduler run does the same kind of work as k8sm's,
// which is the scheduler and the kubelet in one: the pair of figures shows what the API
// server costs either way.
type kubeletWrites struct {
	c        client.Client
	cs       kubernetes.Interface
	mode     kubeletMode
	recorder events.EventRecorder
	stop     func()

	mu      sync.Mutex
	started map[string]bool
	queue   chan *corev1.Pod
}

func newKubeletWrites(ctx context.Context, c client.Client, cfg *rest.Config, mode kubeletMode, workers int) (*kubeletWrites, error) {
	cs, err := newProtobufClientset(cfg) // as kubelets send
	if err != nil {
		return nil, err
	}
	b := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	ctx, cancel := context.WithCancel(ctx)
	if err := b.StartRecordingToSinkWithContext(ctx); err != nil {
		cancel()
		return nil, err
	}
	k := &kubeletWrites{c: c, cs: cs, mode: mode, recorder: b.NewRecorder(clientgoscheme.Scheme, "kubelet"),
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
	if k.mode == asKubelet {
		k.startAsKubelet(ctx, p)
		return
	}
	k.events(p)
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

// events records the three events of a container started from an image present.
func (k *kubeletWrites) events(p *corev1.Pod) {
	for _, e := range []struct{ reason, note string }{
		{"Pulled", "Container image already present on machine"}, {"Created", "Created container c"}, {"Started", "Started container c"},
	} {
		k.recorder.Eventf(p, nil, corev1.EventTypeNormal, e.reason, e.reason, "%s", e.note)
	}
}

// startAsKubelet makes the requests of kubeletModel: each status of kubeletStatuses
// written as a kubelet's status manager writes it, the pod read from the API server and
// a strategic merge patch from its status to the new one sent, and the events once the
// sandbox is ready.
func (k *kubeletWrites) startAsKubelet(ctx context.Context, p *corev1.Pod) {
	pods := k.cs.CoreV1().Pods(p.Namespace)
	for i, status := range kubeletStatuses(p, metav1.Now()) {
		if i == 2 {
			k.events(p)
		}
		_ = retry.OnError(retry.DefaultRetry, func(error) bool { return true }, func() error {
			live, err := pods.Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			patch, err := statusPatch(live.UID, live.Status, status)
			if err != nil {
				return err
			}
			_, err = pods.Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
			return err
		})
	}
}

// kubeletStatuses are the statuses kubelet 1.37 writes for a pod it starts, in order
// (as it wrote them for TestKubeletModel's pods): the sandbox not ready yet, the sandbox
// ready, and the container running and ready.
func kubeletStatuses(p *corev1.Pod, now metav1.Time) []corev1.PodStatus {
	cond := func(t corev1.PodConditionType, s corev1.ConditionStatus, reason, message string) corev1.PodCondition {
		return corev1.PodCondition{Type: t, Status: s, ObservedGeneration: 1, LastTransitionTime: now, Reason: reason, Message: message}
	}
	unready := "containers with unready status: [c]"
	waiting := []corev1.ContainerStatus{{Name: "c", Image: "busybox", Started: new(false),
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
	pending := corev1.PodStatus{ObservedGeneration: 1, Phase: corev1.PodPending, QOSClass: p.Status.QOSClass,
		HostIP: "127.0.0.1", HostIPs: []corev1.HostIP{{IP: "127.0.0.1"}}, StartTime: &now,
		Conditions: []corev1.PodCondition{
			cond(corev1.PodReadyToStartContainers, corev1.ConditionFalse, "PodSandboxNotReady", "no pod sandbox exists"),
			cond(corev1.PodInitialized, corev1.ConditionTrue, "", ""),
			cond(corev1.PodReady, corev1.ConditionFalse, "ContainersNotReady", unready),
			cond(corev1.ContainersReady, corev1.ConditionFalse, "ContainersNotReady", unready),
			cond(corev1.PodScheduled, corev1.ConditionTrue, "", "")},
		ContainerStatuses: waiting}
	sandbox := *pending.DeepCopy()
	sandbox.Conditions[0] = cond(corev1.PodReadyToStartContainers, corev1.ConditionTrue, "", "")
	running := *sandbox.DeepCopy()
	running.Phase = corev1.PodRunning
	running.Conditions[2] = cond(corev1.PodReady, corev1.ConditionTrue, "", "")
	running.Conditions[3] = cond(corev1.ContainersReady, corev1.ConditionTrue, "", "")
	running.PodIP, running.PodIPs = "127.0.0.1", []corev1.PodIP{{IP: "127.0.0.1"}}
	running.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", Ready: true, Started: new(true), Image: "busybox",
		ImageID: "sha256:f03b105bcde4cab7303cd9176a5906ddf215509b3040e1d1ff703fe431326f35", ContainerID: "containerd://" + string(p.UID),
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}
	return []corev1.PodStatus{pending, sandbox, running}
}

// statusPatch is the strategic merge patch a kubelet sends to change a pod's status from
// old to new: the difference of the two, with the pod's uid as a precondition.
func statusPatch(uid types.UID, old, new corev1.PodStatus) ([]byte, error) {
	before, err := json.Marshal(corev1.Pod{Status: old})
	if err != nil {
		return nil, err
	}
	after, err := json.Marshal(corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: uid}, Status: new})
	if err != nil {
		return nil, err
	}
	return strategicpatch.CreateTwoWayMergePatch(before, after, corev1.Pod{})
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
