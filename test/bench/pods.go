package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// isRunning says whether a pod runs.
func isRunning(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning }

// isBound says whether a pod is bound to a Node.
func isBound(p *corev1.Pod) bool { return p.Spec.NodeName != "" }

// createAndWait creates the pods (at the -rate, if given) and waits until done says each
// is; it returns the elapsed time and each pod's create→done and create→bound latencies.
func createAndWait(c client.WithWatch, n, creators int, mk func(i int) *corev1.Pod, done func(*corev1.Pod) bool, observe func(*corev1.Pod), timeout time.Duration) (time.Duration, []time.Duration, []time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	w, err := c.Watch(ctx, &corev1.PodList{}, client.InNamespace("default"))
	if err != nil {
		return 0, nil, nil, err
	}
	t := &podTimes{c: c, w: w, done: done, observe: observe,
		created: map[string]time.Time{}, seen: map[string]bool{}, seenBound: map[string]bool{}}
	defer func() { t.w.Stop() }()
	start := time.Now()
	errs := startCreators(ctx, c, creators, pace(ctx, n), mk, t.create)
	if err := t.wait(ctx, n, errs, timeout); err != nil {
		return 0, nil, nil, err
	}
	elapsed := time.Since(start)
	sort.Slice(t.latencies, func(i, j int) bool { return t.latencies[i] < t.latencies[j] })
	sort.Slice(t.bound, func(i, j int) bool { return t.bound[i] < t.bound[j] })
	return elapsed, t.latencies, t.bound, nil
}

// pace hands out the pod indexes 0 to n-1 to the creators: at -rate per second when it
// is given, else as fast as they take them. It stops early when ctx ends.
func pace(ctx context.Context, n int) <-chan int {
	next := make(chan int)
	go func() {
		defer close(next)
		var tick <-chan time.Time
		if rate > 0 {
			t := time.NewTicker(time.Duration(float64(time.Second) / rate))
			defer t.Stop()
			tick = t.C
		}
		for i := range n {
			if tick != nil {
				select {
				case <-tick:
				case <-ctx.Done():
					return
				}
			}
			next <- i
		}
	}()
	return next
}

// startCreators starts the goroutines that create the pods next names, and tells
// created when each was sent. Each goroutine sends on the returned channel once: nil
// when nothing is left to create, or the error that stopped it.
func startCreators(ctx context.Context, c client.Client, creators int, next <-chan int, mk func(i int) *corev1.Pod, created func(name string, at time.Time)) <-chan error {
	errs := make(chan error, creators)
	for range creators {
		go func() {
			for i := range next {
				p := mk(i)
				t := time.Now()
				if err := c.Create(ctx, p); err != nil {
					errs <- err
					return
				}
				created(p.Name, t)
			}
			errs <- nil
		}()
	}
	return errs
}

// podTimes measures the pods from the watch: each one's time from its create to bound
// and to done. A pod counts once for each, the first time the watch shows it so.
type podTimes struct {
	c       client.WithWatch
	w       watch.Interface
	done    func(*corev1.Pod) bool
	observe func(*corev1.Pod)

	mu      sync.Mutex
	created map[string]time.Time

	seen, seenBound  map[string]bool
	latencies, bound []time.Duration
}

// create notes when the pod named name was sent to the apiserver. The creators call it
// while the watch runs, hence the lock.
func (t *podTimes) create(name string, at time.Time) {
	t.mu.Lock()
	t.created[name] = at
	t.mu.Unlock()
}

// wait reads the watch until n pods are done. It fails when a creator fails, or when
// ctx ends first.
func (t *podTimes) wait(ctx context.Context, n int, errs <-chan error, timeout time.Duration) error {
	for len(t.seen) < n {
		select {
		case err := <-errs:
			if err != nil {
				return fmt.Errorf("creating pods: %w", err)
			}
		case ev, ok := <-t.w.ResultChan():
			batch, err := t.batch(ctx, ev, ok)
			if err != nil {
				return err
			}
			for _, p := range batch {
				t.record(p)
			}
		case <-ctx.Done():
			return fmt.Errorf("only %d of %d pods done within %s", len(t.seen), n, timeout)
		}
	}
	return nil
}

// batch is the pods a watch event shows: the one added or changed, or, when the watch
// ended, every pod of a fresh list, with a new watch going on from that list.
func (t *podTimes) batch(ctx context.Context, ev watch.Event, ok bool) ([]*corev1.Pod, error) {
	var batch []*corev1.Pod
	if !ok {
		// The apiserver ends watches that fall behind: catch up with a list.
		var list corev1.PodList
		if err := t.c.List(ctx, &list, client.InNamespace("default")); err != nil {
			return nil, err
		}
		for i := range list.Items {
			batch = append(batch, &list.Items[i])
		}
		var err error
		if t.w, err = t.c.Watch(ctx, &corev1.PodList{}, client.InNamespace("default"), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}}); err != nil {
			return nil, err
		}
	} else if ev.Type == watch.Added || ev.Type == watch.Modified {
		batch = append(batch, ev.Object.(*corev1.Pod))
	}
	return batch, nil
}

// record notes the pod's latencies the first time it is seen bound and done. A pod this
// run did not create counts from its creationTimestamp.
func (t *podTimes) record(p *corev1.Pod) {
	if t.observe != nil {
		t.observe(p)
	}
	now := time.Now()
	t.mu.Lock()
	created, ok := t.created[p.Name]
	t.mu.Unlock()
	if !ok {
		created = p.CreationTimestamp.Time
	}
	if !t.seenBound[p.Name] && isBound(p) {
		t.seenBound[p.Name] = true
		t.bound = append(t.bound, now.Sub(created))
	}
	if !t.seen[p.Name] && t.done(p) {
		t.seen[p.Name] = true
		t.latencies = append(t.latencies, now.Sub(created))
	}
}

// unschedulablePods notes, per pod, the message of the first PodScheduled=False
// condition the watch shows it with.
type unschedulablePods map[string]string

func (u unschedulablePods) observe(p *corev1.Pod) {
	if _, ok := u[p.Name]; ok {
		return
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			u[p.Name] = c.Message
		}
	}
}

// byMessage counts the pods by message.
func (u unschedulablePods) byMessage() map[string]int {
	n := map[string]int{}
	for _, m := range u {
		n[m]++
	}
	return n
}

// burstPod is benchPod named as a ReplicaSet's or a Job's pods are, by the API server
// (metadata.generateName): the bursts a cluster sees come from such owners. (k8sm defers
// the MesosTask creates of such pods only: internal/scheduler/records.go.)
func burstPod(i int, scheduler string) *corev1.Pod {
	p := benchPod(i, scheduler)
	p.GenerateName, p.Name = "bench-", ""
	return p
}

// benchPod is pod i of a run, for the named scheduler: small requests, so the agents
// or Nodes hold many.
func benchPod(i int, scheduler string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("bench-%05d", i)},
		Spec: corev1.PodSpec{SchedulerName: scheduler, Containers: []corev1.Container{{Name: "c", Image: "busybox",
			Command: []string{"sleep", "3600"},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}}}}},
	}
}

// waitForTasksCounted waits until the MesosClusters count n running tasks: with the
// MesosTasks in the manager's memory, its count of those it holds (status.tasks).
func waitForTasksCounted(ctx context.Context, c client.Client, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var list mesosv1alpha1.MesosClusterList
		err := c.List(ctx, &list)
		have := 0
		for _, mc := range list.Items {
			if mc.Status.Tasks != nil {
				have += int(mc.Status.Tasks.Running)
			}
		}
		if err == nil && have >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the MesosClusters count %d running tasks of %d pods after %s (last error: %v)", have, n, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitForMesosTasks waits until the bench's namespace holds n MesosTasks, asking for one
// object's metadata at a time (the count rides along), which costs the API server next
// to nothing beside the writes it measures.
func waitForMesosTasks(ctx context.Context, c client.Client, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(mesosv1alpha1.GroupVersion.WithKind("MesosTaskList"))
		err := c.List(ctx, list, client.InNamespace("default"), client.Limit(1))
		if err == nil {
			have := len(list.Items)
			if r := list.RemainingItemCount; r != nil {
				have += int(*r)
			}
			if have >= n {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the MesosTasks of %d pods not written after %s (last error: %v)", n, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
