package scheduler

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/placement"
	"github.com/k8sm/k8sm/internal/podtask"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// A pod that waited preemptAfter in the queue has the least important pod of lower
// priority on an agent deleted for it, with the DisruptionTarget condition and
// an event, and is nominated to that agent's Node; it preempts nothing more while it
// waits for that room. A pod whose preemptionPolicy is Never preempts nothing, nor does
// any while the framework is not subscribed.
func TestAPodOfHigherPriorityPreemptsOneOfLower(t *testing.T) {
	for _, never := range []bool{false, true} {
		t.Run(map[bool]string{false: "PreemptLowerPriority", true: "Never"}[never], func(t *testing.T) {
			ctx := context.Background()
			node := preemptNode()
			low, lowest, higher := runningOn(node, "low", 20, nil), runningOn(node, "lowest", 10, nil), runningOn(node, "higher", 100, nil)
			high, task := podWithTask("high", "1")
			priority := int32(50)
			high.Spec.Priority = &priority
			if never {
				policy := corev1.PreemptNever
				high.Spec.PreemptionPolicy = &policy
			}
			c := fakeAPI(t, node, low, lowest, higher, high, task)
			d := newFakeDriver()
			s, rec := newTestScheduler(c, d)
			s.Enqueue(ctx, task, high)
			now := time.Now()
			editPending(s, func(p *pendingTask) {
				p.unschedulable, p.queued = whyNoOffers, now.Add(-preemptAfter)
			})
			get := func(p *corev1.Pod) *corev1.Pod {
				t.Helper()
				got := &corev1.Pod{}
				if err := c.Get(ctx, client.ObjectKeyFromObject(p), got); err != nil {
					t.Fatal(err)
				}
				return got
			}

			// Not while the framework is not subscribed.
			d.mu.Lock()
			d.unsubscribed = true
			d.mu.Unlock()
			s.preempt(ctx, now)
			if get(lowest).DeletionTimestamp != nil {
				t.Fatal("a pod was preempted while the framework was not subscribed")
			}
			d.mu.Lock()
			d.unsubscribed = false
			d.mu.Unlock()

			s.preempt(ctx, now)
			for _, p := range []*corev1.Pod{low, higher} {
				if get(p).DeletionTimestamp != nil {
					t.Errorf("pod %s was deleted", p.Name)
				}
			}
			victim, nominee := get(lowest), get(high)
			events := drain(rec)
			if never {
				if victim.DeletionTimestamp != nil || nominee.Status.NominatedNodeName != "" || len(events) != 0 {
					t.Errorf("a pod that never preempts: victim deleted %v, nominated %q, events %v", victim.DeletionTimestamp, nominee.Status.NominatedNodeName, events)
				}
				return
			}
			if victim.DeletionTimestamp == nil {
				t.Fatal("the pod of lowest priority was not deleted")
			}
			var disrupted bool
			for _, cond := range victim.Status.Conditions {
				disrupted = disrupted || cond.Type == corev1.DisruptionTarget && cond.Status == corev1.ConditionTrue && cond.Reason == corev1.PodReasonPreemptionByScheduler
			}
			if !disrupted {
				t.Errorf("the victim's conditions %v, want DisruptionTarget PreemptionByScheduler", victim.Status.Conditions)
			}
			if nominee.Status.NominatedNodeName != node.Name {
				t.Errorf("nominated to %q, want %q", nominee.Status.NominatedNodeName, node.Name)
			}
			if len(events) != 2 || !strings.Contains(events[0], ReasonPreempted) || !strings.Contains(events[0], "ns/high") ||
				!strings.Contains(events[1], ReasonPreempting) {
				t.Errorf("events %v, want Preempted on the victim and Preempting on the pod", events)
			}

			s.preempt(ctx, now.Add(5*time.Second))
			if get(low).DeletionTimestamp != nil || len(drain(rec)) != 0 {
				t.Error("a nominated pod preempted again while its victim's room is on its way")
			}
		})
	}
}

// Tasks queued less than preemptAfter, or of no higher priority than any pod running,
// preempt nothing, and the next pass does not list the Nodes' pods again.
func TestNoPreemptionWithoutVictims(t *testing.T) {
	ctx := context.Background()
	node := preemptNode()
	same, _ := podWithTask("same", "1")
	same.Spec.NodeName, same.Status.Phase = node.Name, corev1.PodRunning
	waiting, task := podWithTask("waiting", "1")
	c := fakeAPI(t, node, same, waiting, task)
	s, rec := newTestScheduler(c, newFakeDriver())
	s.Enqueue(ctx, task, waiting)
	now := time.Now()
	editPending(s, func(p *pendingTask) { p.queued = now.Add(-preemptAfter + time.Second) })
	s.preempt(ctx, now)
	if !s.noVictims.until.IsZero() {
		t.Error("a task queued for less than preemptAfter looked for victims")
	}
	s.preempt(ctx, now.Add(time.Second))
	if !s.noVictims.until.After(now) || s.noVictims.below != 0 {
		t.Errorf("no victims below %d until %v, want below 0 for a while", s.noVictims.below, s.noVictims.until)
	}
	got := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(same), got); err != nil || got.DeletionTimestamp != nil || len(drain(rec)) != 0 {
		t.Errorf("a pod of the same priority: %v, deleted %v", err, got.DeletionTimestamp)
	}
}

// A pod with required anti-affinity against its replicas has the replica on an agent
// preempted, not the least important pod there, which would leave it no room to go.
func TestAPodPreemptsTheReplicaItKeepsAwayFrom(t *testing.T) {
	node := preemptNode()
	web := map[string]string{"app": "web"}
	replica, other := runningOn(node, "replica", 20, web), runningOn(node, "other", 10, map[string]string{"app": "db"})
	high, task := podWithTask("high", "1")
	priority := int32(50)
	high.Labels, high.Spec.Priority = web, &priority
	high.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
		LabelSelector: &metav1.LabelSelector{MatchLabels: web}, TopologyKey: corev1.LabelHostname}}}}
	c := preemptOnce(t, high, task, node, replica, other)
	wantDeleted(t, c, map[*corev1.Pod]bool{replica: true, other: false})
}

// A pod asking for a role's resources has a pod of that role preempted, not the least
// important pod on the agent, whose resources may be another role's; in a cluster of
// that one role, every pod's are that role's.
func TestAPodOfARolePreemptsAPodOfThatRole(t *testing.T) {
	for _, tc := range []struct {
		roles        []string
		otherDeleted bool
	}{{nil, false}, {[]string{"db"}, true}} {
		t.Run(fmt.Sprintf("roles %v", tc.roles), func(t *testing.T) {
			ctx := context.Background()
			node := preemptNode()
			same, other := runningOn(node, "same", 20, nil), runningOn(node, "other", 10, nil)
			same.Annotations = map[string]string{podtask.AnnotationRole: "db"}
			high, task := podWithTask("high", "1")
			priority := int32(50)
			high.Spec.Priority, high.Annotations = &priority, map[string]string{podtask.AnnotationRole: "db"}
			task.Spec.Role = "db"
			c := fakeAPI(t, node, same, other, high, task)
			s, _ := newTestScheduler(c, newFakeDriver())
			mc := s.currentCluster().DeepCopy()
			mc.Spec.Framework.Roles = tc.roles
			s.SetCluster(mc)
			s.Enqueue(ctx, task, high)
			now := time.Now()
			editPending(s, func(p *pendingTask) { p.queued = now.Add(-preemptAfter) })
			s.preempt(ctx, now)
			wantDeleted(t, c, map[*corev1.Pod]bool{same: !tc.otherDeleted, other: tc.otherDeleted})
		})
	}
}

// A pod with a host port has the pod holding that port on the agent preempted, not the
// least important pod there; where a pod that is never a victim holds it, nothing.
func TestAPodPreemptsTheHolderOfItsHostPort(t *testing.T) {
	withPort := func(p *corev1.Pod, port int32) *corev1.Pod {
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: port, HostPort: port}}
		return p
	}
	for _, tc := range []struct {
		name          string
		holderPrio    int32
		holderDeleted bool
	}{{"a holder of lower priority", 20, true}, {"a holder of higher priority", 90, false}} {
		t.Run(tc.name, func(t *testing.T) {
			node := preemptNode()
			holder, other := withPort(runningOn(node, "holder", tc.holderPrio, nil), 8080), runningOn(node, "other", 10, nil)
			high, task := podWithTask("high", "1")
			withPort(high, 8080)
			task.Spec.Resources.Ports = []int32{8080}
			priority := int32(50)
			high.Spec.Priority = &priority
			c := preemptOnce(t, high, task, node, holder, other)
			wantDeleted(t, c, map[*corev1.Pod]bool{holder: tc.holderDeleted, other: false})
		})
	}
}

// preemptNode is the Ready Node of agent-1 of cluster c.
func preemptNode() *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: agentnode.NodeName("c", "agent-1", 0),
		Labels: map[string]string{agentnode.LabelCluster: "c", corev1.LabelHostname: "agent-1"}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
}

// runningOn is a pod of that priority and labels running on node, kept by a finalizer
// once deleted, to be seen deleted.
func runningOn(node *corev1.Node, name string, priority int32, labels map[string]string) *corev1.Pod {
	p, _ := podWithTask(name, "1")
	p.Labels = labels
	p.Spec.Priority, p.Spec.NodeName = &priority, node.Name
	p.Finalizers = []string{"test/keep"}
	p.Status.Phase = corev1.PodRunning
	return p
}

// preemptOnce queues pod's task as queued preemptAfter ago, with objs in the API, and
// runs one preemption pass.
func preemptOnce(t *testing.T, pod *corev1.Pod, task *mesosv1alpha1.MesosTask, objs ...client.Object) client.Client {
	t.Helper()
	ctx := context.Background()
	c := fakeAPI(t, append(objs, pod, task)...)
	s, _ := newTestScheduler(c, newFakeDriver())
	s.Enqueue(ctx, task, pod)
	now := time.Now()
	editPending(s, func(p *pendingTask) { p.unschedulable, p.queued = whyNoOffers, now.Add(-preemptAfter) })
	s.preempt(ctx, now)
	return c
}

// wantDeleted checks which pods are being deleted.
func wantDeleted(t *testing.T, c client.Client, want map[*corev1.Pod]bool) {
	t.Helper()
	for pod, deleted := range want {
		got := &corev1.Pod{}
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), got); err != nil {
			t.Fatal(err)
		}
		if (got.DeletionTimestamp != nil) != deleted {
			t.Errorf("pod %s deleted %v, want %v", pod.Name, got.DeletionTimestamp != nil, deleted)
		}
	}
}

// A pod for which no pods are preempted is told why, after why it fits no agent, as
// kube-scheduler tells it ("… preemption: 0/1 agents available: …"), and is not told
// again while the reasons stay the same.
func TestAPodIsToldWhyNoPodsArePreemptedForIt(t *testing.T) {
	const fits = "0/1 agents available: 1 insufficient cpus."
	for _, tc := range []struct {
		name    string
		cpus    string // the pod's request; the pod running holds 1
		running int32  // the running pod's priority; the pod's is 50
		never   bool
		want    string
	}{
		{name: "only pods of no lower priority run", cpus: "1", running: 100,
			want: fits + " preemption: 0/1 agents available: 1 had no pods of lower priority."},
		{name: "too little to free", cpus: "3", running: 10,
			want: fits + " preemption: 0/1 agents available: 1 would not have room with every pod it may preempt gone."},
		{name: "preemptionPolicy Never", cpus: "1", running: 10, never: true,
			want: fits + " preemption: not eligible due to preemptionPolicy=Never."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			node := preemptNode()
			running := runningOn(node, "running", tc.running, nil)
			pod, task := podWithTask("waiting", tc.cpus)
			priority := int32(50)
			pod.Spec.Priority = &priority
			if tc.never {
				policy := corev1.PreemptNever
				pod.Spec.PreemptionPolicy = &policy
			}
			c := fakeAPI(t, node, running, pod, task)
			s, rec := newTestScheduler(c, newFakeDriver())
			s.Enqueue(ctx, task, pod)
			now := time.Now()
			editPending(s, func(p *pendingTask) { p.unschedulable, p.told, p.queued = fits, now, now.Add(-preemptAfter) })
			for pass := range 2 {
				at := now.Add(time.Duration(pass) * time.Minute)
				s.preempt(ctx, at)
				s.tellWaiting(ctx, at)
				got := &corev1.Pod{}
				if err := c.Get(ctx, client.ObjectKeyFromObject(pod), got); err != nil {
					t.Fatal(err)
				}
				i := slices.IndexFunc(got.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == corev1.PodScheduled })
				var cond *corev1.PodCondition
				if i >= 0 {
					cond = &got.Status.Conditions[i]
				}
				if cond == nil || cond.Message != tc.want {
					t.Fatalf("pass %d: PodScheduled = %+v, want the message %q", pass+1, cond, tc.want)
				}
				if events := drain(rec); len(events) != 1-pass {
					t.Errorf("pass %d: events %v, want %d", pass+1, events, 1-pass)
				}
			}
			wantDeleted(t, c, map[*corev1.Pod]bool{running: false})
		})
	}
}

// Pods told why they wait are told why nothing is preempted for them at most
// preemptAtMost a pass, the oldest first: a full cluster's queue is not all written
// again at once.
func TestTellingWhyNothingIsPreemptedIsPaced(t *testing.T) {
	const fits = "0/1 agents available: 1 insufficient cpus."
	ctx := context.Background()
	var objs []client.Object
	type queued struct {
		pod  *corev1.Pod
		task *mesosv1alpha1.MesosTask
	}
	var all []queued
	for i := range preemptAtMost + 2 {
		pod, task := podWithTask(fmt.Sprintf("p%02d", i), "1")
		objs = append(objs, pod, task)
		all = append(all, queued{pod, task})
	}
	c := fakeAPI(t, objs...)
	s, rec := newTestScheduler(c, newFakeDriver())
	now := time.Now()
	for i, q := range all {
		s.Enqueue(ctx, q.task, q.pod)
		editPending(s, func(p *pendingTask) {
			p.unschedulable, p.told, p.queued = fits, now, now.Add(-time.Minute+time.Duration(i)*time.Second)
			p.preemption = placement.NoLowerPriority(1)
		}, q.task.Spec.TaskID)
	}
	s.tellWaiting(ctx, now)
	if got := len(drain(rec)); got != preemptAtMost {
		t.Fatalf("%d pods told in a pass, want %d", got, preemptAtMost)
	}
	got := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(all[preemptAtMost].pod), got); err != nil || len(got.Status.Conditions) != 0 {
		t.Errorf("a pod queued after the first %d was told in the first pass: %v (%v)", preemptAtMost, got.Status.Conditions, err)
	}
	s.tellWaiting(ctx, now)
	if got := len(drain(rec)); got != 2 {
		t.Errorf("%d pods told in the next pass, want the 2 left", got)
	}
}

// The room an agent's offers left at its last round counts with what victims free: a
// pod that needs 2 CPUs where 1 is free preempts one pod of 1 CPU, not two. Room offered
// long ago (roomFresh) is not believed, and room a pod is nominated for is not counted
// again.
func TestAnAgentsFreeRoomSparesVictims(t *testing.T) {
	for _, tc := range []struct {
		name        string
		after       time.Duration // from the offer to the preemption pass
		wantLowGoes bool
	}{
		{name: "offered lately", after: 0},
		{name: "offered long ago", after: roomFresh(&mesosv1alpha1.MesosCluster{}) + time.Second, wantLowGoes: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			node := preemptNode()
			low, lowest := runningOn(node, "low", 20, nil), runningOn(node, "lowest", 10, nil)
			high, task := podWithTask("high", "2")
			priority := int32(50)
			high.Spec.Priority = &priority
			c := fakeAPI(t, node, low, lowest, high, task)
			s, _ := newTestScheduler(c, newFakeDriver())
			s.Enqueue(ctx, task, high)
			o := agentOffer("agent-1", 1)
			o.ExecutorIDs = []mesos.ExecutorID{{Value: task.Spec.ExecutorID}}
			s.handleNew(ctx, []mesos.Offer{o})
			at := time.Now().Add(tc.after)
			editPending(s, func(p *pendingTask) { p.queued = at.Add(-preemptAfter) })
			s.preempt(ctx, at)
			wantDeleted(t, c, map[*corev1.Pod]bool{lowest: true, low: tc.wantLowGoes})
			if _, ok := s.rooms[node.Name]; ok {
				t.Error("the room of the agent a pod is nominated to is still counted")
			}
		})
	}
}

// Pods for which no pod can be preempted do not keep the others from preemption: more
// than preemptAtMost of them, of higher priority and queued first (their node selector
// matches no agent), and a pod of lower priority still has a pod preempted for it
// within a few passes.
func TestPodsThatCannotPreemptDoNotStarveTheOthers(t *testing.T) {
	ctx := context.Background()
	node := preemptNode()
	low := runningOn(node, "low", 10, nil)
	objs := []client.Object{node, low}
	type queued struct {
		pod  *corev1.Pod
		task *mesosv1alpha1.MesosTask
	}
	var all []queued
	for i := range preemptAtMost + 1 {
		pod, task := podWithTask(fmt.Sprintf("nowhere-%02d", i), "1")
		pod.Spec.Priority, pod.Spec.NodeSelector = new(int32(100)), map[string]string{"disk": "ssd"}
		all = append(all, queued{pod, task})
		objs = append(objs, pod, task)
	}
	mid, midTask := podWithTask("mid", "1")
	mid.Spec.Priority = new(int32(50))
	all = append(all, queued{mid, midTask})
	c := fakeAPI(t, append(objs, mid, midTask)...)
	s, _ := newTestScheduler(c, newFakeDriver())
	now := time.Now()
	for i, q := range all {
		s.Enqueue(ctx, q.task, q.pod)
		editPending(s, func(p *pendingTask) { p.queued = now.Add(-time.Minute + time.Duration(i)*time.Second) }, q.task.Spec.TaskID)
	}
	for pass := range 3 {
		s.preempt(ctx, now.Add(time.Duration(pass)*5*time.Second))
	}
	wantDeleted(t, c, map[*corev1.Pod]bool{low: true})
}

// The room freed for a pod nominated to an agent's Node is kept for it: a pod of lower
// priority does not take the first victim's room there while the nominated pod waits for
// the rest, but goes to another agent.
func TestTheRoomOfANominatedPodIsKeptForIt(t *testing.T) {
	ctx := context.Background()
	node := preemptNode()
	v1, v2 := runningOn(node, "v1", 10, nil), runningOn(node, "v2", 10, nil)
	high, highTask := podWithTask("high", "2")
	high.Spec.Priority = new(int32(50))
	small, smallTask := podWithTask("small", "1")
	c := fakeAPI(t, node, v1, v2, high, highTask, small, smallTask)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	s.Enqueue(ctx, highTask, high)
	now := time.Now()
	editPending(s, func(p *pendingTask) { p.queued = now.Add(-preemptAfter) })
	s.preempt(ctx, now)
	wantDeleted(t, c, map[*corev1.Pod]bool{v1: true, v2: true})
	s.Enqueue(ctx, smallTask, small)

	// v1's task ended: its agent offers its cpu; another agent offers one too.
	var offers []mesos.Offer
	for _, host := range []string{"agent-1", "agent-2"} {
		o := agentOffer(host, 1)
		o.ExecutorIDs = []mesos.ExecutorID{{Value: highTask.Spec.ExecutorID}}
		offers = append(offers, o)
	}
	s.handleNew(ctx, offers)
	if got := d.launches["o-agent-1"]; len(got) != 0 {
		t.Errorf("launched %v on the agent whose room is kept for the nominated pod", got)
	}
	if got := d.launches["o-agent-2"]; !slices.Equal(got, []string{smallTask.Spec.TaskID}) {
		t.Errorf("launched %v on the other agent, want the pod of lower priority", got)
	}
}

// A pod's nomination lapses with the room kept for it: once its victims' room did not
// come in time (another framework took it, say), the next pass clears its
// status.nominatedNodeName, as kube-scheduler clears a nomination it no longer holds,
// rather than leave it showing a Node nothing is kept on.
func TestALapsedNominationIsCleared(t *testing.T) {
	ctx := context.Background()
	node := preemptNode()
	lowest := runningOn(node, "lowest", 10, nil)
	high, task := podWithTask("high", "1")
	high.Spec.Priority = new(int32(50))
	c := fakeAPI(t, node, lowest, high, task)
	s, _ := newTestScheduler(c, newFakeDriver())
	s.Enqueue(ctx, task, high)
	now := time.Now()
	editPending(s, func(p *pendingTask) { p.unschedulable, p.queued = whyNoOffers, now.Add(-preemptAfter) })
	nominated := func() string {
		t.Helper()
		got := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(high), got); err != nil {
			t.Fatal(err)
		}
		return got.Status.NominatedNodeName
	}
	s.preempt(ctx, now)
	if n := nominated(); n != node.Name {
		t.Fatalf("nominated to %q, want %q", n, node.Name)
	}
	s.preempt(ctx, now.Add(5*time.Second))
	if n := nominated(); n == "" {
		t.Fatal("the nomination was cleared while its room is on its way")
	}
	s.preempt(ctx, now.Add(time.Hour))
	if n := nominated(); n != "" {
		t.Errorf("still nominated to %q once the room kept for it lapsed", n)
	}
}
