package taskapi

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// LeaderLabelKey is the label the leading replica's pod carries with the MesosTasks in
// memory: the Service the APIService names selects it, so that kube-apiserver proxies
// to the one replica that holds them.
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
	repeat(ctx, l.Log.WithValues("pod", l.Pod, "namespace", l.Namespace), "Labeling the leader's pod for the MesosTasks API's Service",
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
