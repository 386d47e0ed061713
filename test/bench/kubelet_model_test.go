package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/k8sm/k8sm/internal/podtask"
	"github.com/k8sm/k8sm/internal/testkubelet"
)

// TestKubeletModel checks kubeletModel, what the bench's peer asks of the API server for
// each pod as its kubelet, against what a real kubelet asks to start pods bound to it:
// per pod, the GETs of the pod, the patches of its status and the events, counted by the
// API server. Only the kubelet talks to the API server meanwhile (the test watches).
func TestKubeletModel(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver, containerd and a kubelet")
	}
	testkubelet.Require(t)
	env, kubeconfig, stopEnv, err := startEnv()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopEnv)
	kl, err := testkubelet.StartWith(testkubelet.Options{Kubeconfig: kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kl.Stop)
	cs := kubernetes.NewForConfigOrDie(env.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := waitNodeReady(ctx, cs, kl.NodeName); err != nil {
		t.Fatalf("%v\n%s", err, kl.Logs())
	}

	// One pod at a time, each Ready before the next is created, so that the kubelet
	// starts each as it starts a pod on a node not under load: a busy status manager
	// writes two statuses in one when the second comes before it wrote the first.
	const pods = 10
	w, err := cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	seen := podEvents{modified: map[string]int{}, ready: map[string]bool{}}
	before, err := apiRequests(ctx, env.Config)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pods {
		p := benchPod(i, corev1.DefaultSchedulerName)
		p.Spec.NodeName = kl.NodeName
		p.Spec.AutomountServiceAccountToken = new(false)
		p.Spec.Containers[0].Image, p.Spec.Containers[0].ImagePullPolicy = testkubelet.Image, corev1.PullNever
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := seen.until(ctx, w, func() bool { return seen.ready[p.Name] }); err != nil {
			t.Fatalf("pod %s: %v\n%s", p.Name, err, kl.Logs())
		}
	}
	// The status manager writes the last status right after the pod is Ready in the watch;
	// anything it writes later is not part of starting the pod.
	settle, stop := context.WithTimeout(ctx, 5*time.Second)
	defer stop()
	_ = seen.until(settle, w, func() bool { return false })
	after, err := apiRequests(ctx, env.Config)
	if err != nil {
		t.Fatal(err)
	}
	got := diffCounts(before, after)
	t.Logf("the kubelet's requests for %d pods: %v; status writes per pod: %v", pods, got, seen.modified)

	// Each pod's status writes, as its watch shows them: most pods get as many as the
	// model says (a pod the status manager wrote two statuses of in one gets fewer).
	if n := seen.mostPods(); float64(n) != kubeletModel["PATCH pods/status"] {
		t.Errorf("status writes: most pods got %d, the model says %.0f", n, kubeletModel["PATCH pods/status"])
	}
	// The kubelet reads the pod from the API server before each write of its status.
	if g, p := got["GET pods"], got["PATCH pods/status"]; math.Abs(g-p) > 1 {
		t.Errorf("the kubelet read pods %.0f times and patched their status %.0f times; the model has one read per patch", g, p)
	}
	for key, want := range kubeletModel {
		if perPod := got[key] / pods; math.Abs(perPod-want) > 0.5 {
			t.Errorf("%s: the kubelet made %.1f per pod, the model %.0f", key, perPod, want)
		}
	}
	if n := len(kubeletStatuses(&corev1.Pod{}, metav1.Now())); float64(n) != kubeletModel["PATCH pods/status"] {
		t.Errorf("the bench writes %d statuses per pod, the model %.0f", n, kubeletModel["PATCH pods/status"])
	}
}

// podEvents counts, from a watch of pods, the updates of each pod and which are Ready.
type podEvents struct {
	modified map[string]int
	ready    map[string]bool
}

// until reads the watch until done says so, or ctx ends.
func (e *podEvents) until(ctx context.Context, w watch.Interface, done func() bool) error {
	for !done() {
		select {
		case <-ctx.Done():
			return errors.New("not Ready in time")
		case ev, ok := <-w.ResultChan():
			if !ok {
				return errors.New("the watch ended")
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod {
				continue
			}
			if ev.Type == watch.Modified {
				e.modified[p.Name]++
			}
			if podtask.PodReady(&p.Status) {
				e.ready[p.Name] = true
			}
		}
	}
	return nil
}

// mostPods is the number of updates the most pods got.
func (e *podEvents) mostPods() int {
	pods := map[int]int{}
	for _, n := range e.modified {
		pods[n]++
	}
	most, count := 0, 0
	for n, c := range pods {
		if c > count || (c == count && n > most) {
			most, count = n, c
		}
	}
	return most
}

// waitNodeReady waits until the kubelet's Node is registered and Ready.
func waitNodeReady(ctx context.Context, cs kubernetes.Interface, name string) error {
	for {
		if n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); err == nil {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the kubelet's Node %s is not Ready", name)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
