package taskapi

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// LeaderLabelKey is the label the leading replica's pod carries: the other replicas pass
// the requests they get on to the pod so labeled, the one replica that holds the
// MesosTasks in memory, or, with the CRD, the one whose revisions a client meets
// (Relay, LeaderPods).
const LeaderLabelKey = "mesos.k8sm.io/leader"

// LeaderLabel keeps LeaderLabelKey on the leading replica's pod alone: it puts it on its
// own once the replica leads, and takes it off every other pod of its namespace (a
// leader before it, whose pod outlived its leadership), then again every Every, so that a
// write that failed is made in the end.
type LeaderLabel struct {
	// Client patches the pods; Reader lists them past the cache (the manager caches
	// only the pods it may run).
	Client client.Client
	Reader client.Reader
	// Namespace and Pod are the replica's own pod's.
	Namespace, Pod string
	// Every is how often the labels are made right again. Default 30s.
	Every time.Duration
	Log   logr.Logger
}

// NeedLeaderElection: only the leader labels.
func (l *LeaderLabel) NeedLeaderElection() bool { return true }

// Start labels until ctx ends, every Every, after a failure too.
func (l *LeaderLabel) Start(ctx context.Context) error {
	every := l.Every
	if every <= 0 {
		every = 30 * time.Second
	}
	repeat(ctx, l.Log.WithValues("pod", l.Pod, "namespace", l.Namespace), "Labeling the leader's pod for the MesosTasks API",
		every, every, l.Sync)
	return nil
}

// Sync puts the label on the replica's own pod and takes it off the others'.
func (l *LeaderLabel) Sync(ctx context.Context) error {
	var labeled corev1.PodList
	if err := l.Reader.List(ctx, &labeled, client.InNamespace(l.Namespace), client.MatchingLabels{LeaderLabelKey: "true"}); err != nil {
		return fmt.Errorf("listing the pods labeled %s: %w", LeaderLabelKey, err)
	}
	own := false
	for i := range labeled.Items {
		p := &labeled.Items[i]
		if p.Name == l.Pod {
			own = true
			continue
		}
		if err := l.label(ctx, p.Name, "null"); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("taking %s off the pod %s: %w", LeaderLabelKey, p.Name, err)
		}
		l.Log.Info("Took the leader's label off a replica that no longer leads", "pod", p.Name)
	}
	if own {
		return nil
	}
	if err := l.label(ctx, l.Pod, `"true"`); err != nil {
		return fmt.Errorf("labeling the pod %s %s: %w", l.Pod, LeaderLabelKey, err)
	}
	return nil
}

// label sets LeaderLabelKey on a pod to value, a JSON value (null removes it).
func (l *LeaderLabel) label(ctx context.Context, pod, value string) error {
	p := &corev1.Pod{}
	p.Namespace, p.Name = l.Namespace, pod
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%s}}}`, LeaderLabelKey, value)
	return l.Client.Patch(ctx, p, client.RawPatch(types.MergePatchType, []byte(patch)))
}

// LeaderPods finds the leading replica by LeaderLabelKey on its pod: its pod's IP, and
// its container port named tasks-api (this replica's Port if it names none). What it
// finds is kept for leaderKeptFor, or until forgotten.
type LeaderPods struct {
	// Reader lists the pods past the cache.
	Reader client.Reader
	// Namespace and Self are the replica's own pod's.
	Namespace, Self string
	Port            int
	// Now is the clock (time.Now if nil).
	Now func() time.Time

	mu    sync.Mutex
	addr  string
	found time.Time
}

// leaderKeptFor is how long LeaderPods keeps the leader's address: a relayed watch or
// list does not list the pods each time.
const leaderKeptFor = 5 * time.Second

// TasksAPIPortName is the name of the manager container's port of the MesosTasks API.
const TasksAPIPortName = "tasks-api"

func (l *LeaderPods) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Address is the leading replica's host:port.
func (l *LeaderPods) Address(ctx context.Context) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.addr != "" && l.now().Sub(l.found) < leaderKeptFor {
		return l.addr, nil
	}
	var labeled corev1.PodList
	if err := l.Reader.List(ctx, &labeled, client.InNamespace(l.Namespace), client.MatchingLabels{LeaderLabelKey: "true"}); err != nil {
		return "", fmt.Errorf("listing the pods labeled %s: %w", LeaderLabelKey, err)
	}
	addr := ""
	for i := range labeled.Items {
		p := &labeled.Items[i]
		if p.Name == l.Self || p.DeletionTimestamp != nil || p.Status.PodIP == "" {
			continue
		}
		addr = net.JoinHostPort(p.Status.PodIP, strconv.Itoa(tasksAPIPort(p, l.Port)))
		break
	}
	if addr == "" {
		return "", fmt.Errorf("no other pod in %s is labeled %s=true with an IP", l.Namespace, LeaderLabelKey)
	}
	l.addr, l.found = addr, l.now()
	return addr, nil
}

// Forget drops the address kept.
func (l *LeaderPods) Forget() {
	l.mu.Lock()
	l.addr = ""
	l.mu.Unlock()
}

// tasksAPIPort is the port p's containers name tasks-api, else port.
func tasksAPIPort(p *corev1.Pod, port int) int {
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == TasksAPIPortName && cp.ContainerPort > 0 {
				return int(cp.ContainerPort)
			}
		}
	}
	return port
}
