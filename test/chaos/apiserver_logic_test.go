package chaos

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stypes "k8s.io/apimachinery/pkg/types"

	"github.com/k8sm/k8sm/internal/mesossim"
)

// The restart-apiserver fault's logic, and what the checker does about it, without a
// cluster: these run in -short too.

func TestAPIServerDownDrawsBothSidesOfTheLease(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	short, long := 0, 0
	for range 200 {
		switch d := apiServerDown(rng); {
		case d >= 2*time.Second && d < 10*time.Second:
			short++ // a leader may ride it out
		case d > stepDownBound && d < stepDownBound+11*time.Second:
			long++ // the leader must step down, and the run checks it did
		default:
			t.Fatalf("outage of %s: neither 2-10 s nor past the step-down bound %s", d, stepDownBound)
		}
	}
	if short < 50 || long < 50 {
		t.Fatalf("%d short and %d long outages of 200: want about half each", short, long)
	}
	p := profile{seed: 3, pods: 60, agents: 8, faults: 30, pace: 4 * time.Second, kinds: []faultKind{faultRestartAPI}}
	for _, f := range planFaults(p) {
		if f.kind != faultRestartAPI || f.lasts < 2*time.Second {
			t.Fatalf("-chaos.kinds=restart-apiserver planned %v", f)
		}
	}
	if stepDownBound < retryPeriod+renewDeadline+releaseTimeout {
		t.Fatalf("step-down bound %s shorter than a leader may take to step down", stepDownBound)
	}
}

func TestTransient(t *testing.T) {
	gr := schema.GroupResource{Resource: "pods"}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{apierrors.NewNotFound(gr, "p"), false},
		{apierrors.NewAlreadyExists(gr, "p"), false},
		{apierrors.NewConflict(gr, "p", errors.New("modified")), false},
		{apierrors.NewBadRequest("no"), false},
		{apierrors.NewServiceUnavailable("starting"), true},
		{apierrors.NewInternalError(errors.New("etcd")), true},
		{apierrors.NewTooManyRequests("later", 1), true},
		{apierrors.NewTimeoutError("slow", 1), true},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{fmt.Errorf("Get \"https://127.0.0.1/api\": %w", io.EOF), true},
	} {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestAPIRetry(t *testing.T) {
	calls := 0
	err := apiRetry(func() error {
		calls++
		if calls < 3 {
			return &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("apiRetry = %v after %d calls, want success on the third", err, calls)
	}
	calls = 0
	notFound := apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "p")
	if err := apiRetry(func() error { calls++; return notFound }); !apierrors.IsNotFound(err) || calls != 1 {
		t.Fatalf("apiRetry = %v after %d calls, want NotFound at once", err, calls)
	}
}

func TestKeptLeading(t *testing.T) {
	at := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	running := &replica{exited: make(chan struct{})}
	exited := &replica{exited: make(chan struct{})}
	close(exited.exited)
	killed := &replica{exited: make(chan struct{})}
	killed.told.Store(true)
	close(killed.exited)
	long := stepDownBound + time.Second
	for _, tc := range []struct {
		l    *replica
		down time.Duration
		want leaderFate
	}{
		{running, stepDownBound, unchecked}, // a leader may ride this out
		{nil, long, unchecked},
		{running, long, keptLeading},
		{exited, long, steppedDown},
		{killed, long, stoppedByUs},
	} {
		if got := fateOf(tc.l, at, at.Add(tc.down)); got != tc.want {
			t.Errorf("fate after %s: %d, want %d", tc.down, got, tc.want)
		}
	}

	a := &apiServer{outages: []outage{
		{stopped: at, started: at.Add(5 * time.Second), up: at.Add(8 * time.Second), leader: "a-1"},
		{stopped: at.Add(time.Minute), started: at.Add(time.Minute + 25*time.Second), up: at.Add(time.Minute + 28*time.Second), leader: "b-2", fate: steppedDown},
		{stopped: at.Add(2 * time.Minute), started: at.Add(2*time.Minute + 25*time.Second), up: at.Add(2*time.Minute + 28*time.Second), leader: "a-3", fate: keptLeading},
	}}
	kept := a.keptLeading()
	if len(kept) != 1 || !strings.Contains(kept[0], "manager a-3") || !strings.Contains(kept[0], "25s") {
		t.Fatalf("kept leading: %v, want a-3's 25 s outage", kept)
	}
	if sum := a.summary(); !strings.Contains(sum, "3, down") || !strings.Contains(sum, "step down in 2 (did so by itself 1,") {
		t.Fatalf("summary %q", sum)
	}
}

func TestUnfinishedWorkloads(t *testing.T) {
	replicas, completions := int32(3), int32(4)
	done := batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}
	s := snapshot{
		deployments: []appsv1.Deployment{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: "ready", Generation: 2}, Spec: appsv1.DeploymentSpec{Replicas: &replicas},
				Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: "short", Generation: 1}, Spec: appsv1.DeploymentSpec{Replicas: &replicas},
				Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: "unobserved", Generation: 3}, Spec: appsv1.DeploymentSpec{Replicas: &replicas},
				Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3}},
		},
		jobs: []batchv1.Job{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: "complete"}, Spec: batchv1.JobSpec{Completions: &completions},
				Status: batchv1.JobStatus{Succeeded: 4, Conditions: []batchv1.JobCondition{done}}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: "running"}, Spec: batchv1.JobSpec{Completions: &completions},
				Status: batchv1.JobStatus{Succeeded: 1, Active: 2}},
		},
		sim: mesossim.State{Agents: []mesossim.AgentState{{Active: true, Free: map[string]float64{"cpus": 4, "mem": 4096}}}},
	}
	got := strings.Join(s.unfinished(), "\n")
	for _, want := range []string{"deployment chaos/short has 1 replicas", "deployment chaos/unobserved", "job chaos/running has 1 succeeded of 4"} {
		if !strings.Contains(got, want) {
			t.Errorf("unfinished does not name %q:\n%s", want, got)
		}
	}
	if n := len(s.unfinished()); n != 3 {
		t.Errorf("%d unfinished, want 3:\n%s", n, got)
	}
	s.sim.Agents[0].Free["cpus"] = 0.1
	if u := s.unfinished(); len(u) != 0 {
		t.Errorf("unfinished while no agent has room: %v", u)
	}
}

// A Deployment or Job short only of pods Pending on the Node of an agent removed for
// good waits for that Node to be deleted (5 minutes after the agent left), when those
// pods fail and are made again; once the Node is gone, such a pod is a stuck one.
func TestWorkloadsWaitingOnARemovedAgentsNode(t *testing.T) {
	replicas, completions := int32(2), int32(2)
	const removed = "mesos-chaos-agent-9"
	controller := true
	pod := func(name string, ready bool, owner metav1.OwnerReference) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: name, Labels: map[string]string{"app": "web"},
			OwnerReferences: []metav1.OwnerReference{owner}}, Spec: corev1.PodSpec{NodeName: removed}, Status: corev1.PodStatus{Phase: corev1.PodPending}}
		if ready {
			p.Spec.NodeName, p.Status.Phase = "mesos-chaos-agent-1", corev1.PodRunning
		}
		return p
	}
	rs := metav1.OwnerReference{Kind: "ReplicaSet", Name: "web-1", Controller: &controller}
	batch := metav1.OwnerReference{Kind: "Job", Name: "batch", Controller: &controller}
	s := snapshot{
		deployments: []appsv1.Deployment{{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: "web", Generation: 1},
			Spec:   appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 1}}},
		jobs: []batchv1.Job{{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: "batch"}, Spec: batchv1.JobSpec{Completions: &completions},
			Status: batchv1.JobStatus{Succeeded: 1, Active: 1}}},
		pods:         []corev1.Pod{pod("web-a", true, rs), pod("web-b", false, rs), pod("batch-a", false, batch)},
		removedNodes: map[string]bool{removed: true},
		nodes:        map[string]bool{removed: true},
		sim:          mesossim.State{Agents: []mesossim.AgentState{{Active: true, Free: map[string]float64{"cpus": 4, "mem": 4096}}}},
	}
	s.pods[2].Labels = nil
	if u := s.unfinished(); len(u) != 0 {
		t.Errorf("unfinished while the removed agent's Node is still there: %v", u)
	}
	s.nodes = map[string]bool{}
	if u := s.unfinished(); len(u) != 2 {
		t.Errorf("%d unfinished once the removed agent's Node is gone, want the Deployment and the Job: %v", len(u), u)
	}
}

func TestPodTrackerSeesEveryPodOnce(t *testing.T) {
	r := newRecorder(nil)
	tr := podTracker{r}
	pod := func(name string, uid string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: name, UID: k8stypes.UID("u-" + uid)}, Status: corev1.PodStatus{Phase: phase}}
	}
	_ = tr.Replace([]any{pod("a", "a", corev1.PodRunning), pod("b", "b", corev1.PodPending)}, "1")
	_ = tr.Update(pod("a", "a", corev1.PodFailed))
	_ = tr.Delete(pod("b", "b", corev1.PodSucceeded))
	_ = tr.Add(pod("c", "c", corev1.PodPending))
	if len(r.pods) != 3 || r.pods["u-a"].ended == nil || r.pods["u-b"].ended == nil || r.pods["u-c"].ended != nil {
		t.Fatalf("tracked %d pods (a ended %v, b ended %v, c ended %v)", len(r.pods), r.pods["u-a"].ended != nil, r.pods["u-b"].ended != nil, r.pods["u-c"].ended != nil)
	}
	missed := r.untracked([]corev1.Pod{*pod("a", "a", corev1.PodFailed), *pod("d", "d", corev1.PodRunning)})
	if len(missed) != 1 || missed[0] != "chaos/d" {
		t.Fatalf("untracked %v, want chaos/d", missed)
	}
}
