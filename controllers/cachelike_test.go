package controllers

import (
	"context"
	"reflect"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// cacheLike reads pods asked for without a copy (client.UnsafeDisableDeepCopy) as the
// manager's cache gives them: the same object for as long as the pod is unchanged, copied
// shallowly into the caller's, its lists, maps and pointers shared. check fails the test
// when anything changed such an object: a reader that writes to what it was given
// without a copy would change the cache's pod for every other reader.
type cacheLike struct {
	client.Client
	mu        sync.Mutex
	pods      map[client.ObjectKey]*corev1.Pod
	snapshots map[client.ObjectKey]*corev1.Pod
	// changed are the pods read without a copy found changed when a newer version
	// replaced them.
	changed map[client.ObjectKey]bool
}

// sharingPods wraps c as cacheLike, and checks at the test's end that no pod read
// without a copy was changed.
func sharingPods(t *testing.T, c client.Client) client.Client {
	t.Helper()
	w := &cacheLike{Client: c, pods: map[client.ObjectKey]*corev1.Pod{}, snapshots: map[client.ObjectKey]*corev1.Pod{},
		changed: map[client.ObjectKey]bool{}}
	t.Cleanup(func() { w.check(t) })
	return w
}

func (c *cacheLike) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	p, ok := obj.(*corev1.Pod)
	if !ok || !withoutCopy(opts) {
		return c.Client.Get(ctx, key, obj, opts...)
	}
	fresh := &corev1.Pod{}
	if err := c.Client.Get(ctx, key, fresh); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	shared := c.pods[key]
	if shared == nil || shared.ResourceVersion != fresh.ResourceVersion {
		c.checkLocked(key)
		shared = fresh
		c.pods[key], c.snapshots[key] = shared, shared.DeepCopy()
	}
	*p = *shared
	return nil
}

func withoutCopy(opts []client.GetOption) bool {
	for _, o := range opts {
		if o == client.UnsafeDisableDeepCopy {
			return true
		}
	}
	return false
}

func (c *cacheLike) checkLocked(key client.ObjectKey) {
	if p, ok := c.pods[key]; ok && !reflect.DeepEqual(p, c.snapshots[key]) {
		c.changed[key] = true
	}
}

func (c *cacheLike) check(t *testing.T) {
	t.Helper()
	for _, key := range c.changedPods() {
		t.Errorf("the pod %s, read without a copy, was changed by its reader", key)
	}
}

// changedPods are the pods read without a copy that were changed since.
func (c *cacheLike) changedPods() []client.ObjectKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []client.ObjectKey
	for key := range c.pods {
		c.checkLocked(key)
	}
	for key := range c.changed {
		out = append(out, key)
	}
	return out
}

// The check finds what a reader changed in a pod read without a copy, in a list or a
// map it shares with the cache, and not what it set on its own shallow copy.
func TestCacheLikeFindsAChangedSharedPod(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", Labels: map[string]string{"a": "1"}},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(p *corev1.Pod)
		want   bool
	}{
		{"its own fields set", func(p *corev1.Pod) {
			p.Status = corev1.PodStatus{Phase: corev1.PodFailed}
			p.Labels = map[string]string{"b": "2"}
		}, false},
		{"a shared condition changed", func(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }, true},
		{"a shared map changed", func(p *corev1.Pod) { p.Labels["a"] = "2" }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &cacheLike{Client: podAPIUnshared(t, pod.DeepCopy()), pods: map[client.ObjectKey]*corev1.Pod{},
				snapshots: map[client.ObjectKey]*corev1.Pod{}, changed: map[client.ObjectKey]bool{}}
			p := &corev1.Pod{}
			if err := w.Get(ctx, client.ObjectKeyFromObject(pod), p, client.UnsafeDisableDeepCopy); err != nil {
				t.Fatal(err)
			}
			tc.change(p)
			if got := len(w.changedPods()) > 0; got != tc.want {
				t.Errorf("changed = %v, want %v", got, tc.want)
			}
		})
	}
}
