package scheduler

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// editPending changes the queue's entries with edit: those of ids, or every one.
func editPending(s *Scheduler, edit func(*pendingTask), ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, p := range s.pending {
		if len(ids) == 0 || slices.Contains(ids, id) {
			edit(&p)
			s.pending[id] = p
		}
	}
}

// queuedEarlier moves back by d when each queued task was queued.
func queuedEarlier(s *Scheduler, d time.Duration) {
	editPending(s, func(p *pendingTask) { p.queued = p.queued.Add(-d) })
}

// podCondition is the message of the PodScheduled condition of the pod of key, or "".
func podCondition(t *testing.T, c client.Client, key client.Object) string {
	t.Helper()
	pod := &corev1.Pod{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(key), pod); err != nil {
		t.Fatal(err)
	}
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodScheduled && cond.Reason == corev1.PodReasonUnschedulable {
			return cond.Message
		}
	}
	return ""
}

// A pod marked Unschedulable is not written again each round only because the round had
// another number of offers ("0/1 agents available" and then "0/2 …"): in a full cluster
// every batch of offers rewrote every pending pod, its MesosTask and an event. Other
// reasons are written at once, and the same ones again after restatedAfter.
func TestAnUnschedulablePodIsNotRewrittenForEachRound(t *testing.T) {
	q := queueTwo(t, "big", "64", "bigger", "128")
	c, s, rec := q.c, q.s, q.rec
	ctx := context.Background()

	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
	if got := drain(rec); len(got) != 2 {
		t.Fatalf("events of the first round = %v, want FailedScheduling for each pod", got)
	}
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-2", 2), agentOffer("agent-3", 1)})
	if got := drain(rec); len(got) != 0 {
		t.Errorf("events of a round with more offers = %v, want none: the pods were told why", got)
	}
	if got, want := podCondition(t, c, q.pod1), "0/1 agents available: 1 insufficient cpus."; got != want {
		t.Errorf("the pod's explanation = %q, want the first round's %q", got, want)
	}

	editPending(s, func(p *pendingTask) { p.told = p.told.Add(-restatedAfter) })
	s.handleNew(ctx, []mesos.Offer{agentOffer("agent-4", 2), agentOffer("agent-5", 1)})
	if got := drain(rec); len(got) != 2 {
		t.Errorf("events of a round %s later = %v, want FailedScheduling for each pod", restatedAfter, got)
	}
	if got, want := podCondition(t, c, q.pod1), "0/2 agents available: 2 insufficient cpus."; got != want {
		t.Errorf("the pod's explanation %s later = %q, want %q", restatedAfter, got, want)
	}
	mt := &mesosv1alpha1.MesosTask{}
	_ = c.Get(ctx, client.ObjectKeyFromObject(q.task1), mt)
	if cond := meta.FindStatusCondition(mt.Status.Conditions, mesosv1alpha1.TaskConditionScheduled); cond == nil || cond.Message != "0/2 agents available: 2 insufficient cpus." {
		t.Errorf("the MesosTask's Scheduled condition = %+v, want the pod's explanation", cond)
	}
}

func TestNoteUnschedulable(t *testing.T) {
	const cpus1, cpus3 = "0/1 agents available: 1 insufficient cpus.", "0/3 agents available: 3 insufficient cpus."
	const mixed = "0/3 agents available: 2 insufficient cpus, 1 didn't match node selector."
	const noLower1, noLower3 = "preemption: 0/1 agents available: 1 had no pods of lower priority.", "preemption: 0/3 agents available: 3 had no pods of lower priority."
	const tooLittle = "preemption: 0/1 agents available: 1 would not have room with every pod it may preempt gone."
	for _, tc := range []struct {
		name      string
		told, why string
		// toldPre is the preemption told with told, pre the one noted since.
		toldPre, pre string
		ago          time.Duration
		want         string // what is written, "" for nothing
	}{
		{name: "not told yet", why: cpus1, want: cpus1},
		{name: "the same words", told: cpus1, why: cpus1, ago: restatedAfter},
		{name: "another number of agents", told: cpus1, why: cpus3, ago: time.Second},
		{name: "another number of agents, long after", told: cpus1, why: cpus3, ago: restatedAfter, want: cpus3},
		{name: "other reasons", told: cpus3, why: mixed, ago: time.Second, want: mixed},
		{name: "offers after none", told: whyNoOffers, why: cpus1, ago: time.Second, want: cpus1},
		{name: "not subscribed after no offers", told: whyNoOffers, why: whyNotSubscribed, ago: time.Second, want: whyNotSubscribed},
		{name: "why no pods were preempted, after the explanation", told: cpus1, why: cpus1, pre: noLower1, ago: time.Second,
			want: cpus1 + " " + noLower1},
		{name: "told with the explanation", why: cpus3, pre: noLower3, want: cpus3 + " " + noLower3},
		{name: "the same words again", told: cpus1, why: cpus1, toldPre: noLower1, pre: noLower1, ago: restatedAfter},
		{name: "preemption's reasons for another number of agents", told: cpus1, why: cpus1, toldPre: noLower1, pre: noLower3, ago: time.Second},
		{name: "preemption's other reasons", told: cpus1, why: cpus1, toldPre: noLower1, pre: tooLittle, ago: time.Second,
			want: cpus1 + " " + tooLittle},
		{name: "pods preempted since", told: cpus1, why: cpus1, toldPre: noLower1, ago: time.Second, want: cpus1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := queueTwo(t, "a", "1", "b", "1")
			now := time.Now()
			id := q.task1.Spec.TaskID
			editPending(q.s, func(p *pendingTask) {
				p.unschedulable, p.told, p.toldPreemption, p.preemption = tc.told, now.Add(-tc.ago), tc.toldPre, tc.pre
			}, id)
			got, news := q.s.noteUnschedulable(id, tc.why, now)
			if news != (tc.want != "") || got != tc.want {
				t.Errorf("noteUnschedulable(%q) told %q %s ago = %q, %v; want %q", tc.why, tc.told, tc.ago, got, news, tc.want)
			}
		})
	}
}

// A pod queued while no offer comes is told why once it has waited waitingMarked: no
// round tries it, so none explains it.
func TestAPodNoRoundTriedIsToldWhy(t *testing.T) {
	for _, tc := range []struct {
		name         string
		unsubscribed bool
		want         string
	}{
		{"subscribed, no offers", false, whyNoOffers},
		{"not subscribed", true, whyNotSubscribed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := queueTwo(t, "a", "1", "b", "1")
			ctx := context.Background()
			if tc.unsubscribed {
				q.d.endSubscription(false)
			}
			q.s.tellWaiting(ctx, time.Now())
			if got := drain(q.rec); len(got) != 0 || podCondition(t, q.c, q.pod1) != "" {
				t.Fatalf("just queued: events %v, explanation %q; want none", got, podCondition(t, q.c, q.pod1))
			}

			queuedEarlier(q.s, waitingMarked)
			q.s.tellWaiting(ctx, time.Now())

			for _, pod := range []*corev1.Pod{q.pod1, q.pod2} {
				if got := podCondition(t, q.c, pod); got != tc.want {
					t.Errorf("pod %s's explanation = %q, want %q", pod.Name, got, tc.want)
				}
			}
			if got := drain(q.rec); len(got) != 2 || !strings.HasPrefix(got[0], "Warning FailedScheduling "+tc.want) {
				t.Errorf("events = %v, want FailedScheduling %q for each pod", got, tc.want)
			}
			q.s.tellWaiting(ctx, time.Now())
			if got := drain(q.rec); len(got) != 0 {
				t.Errorf("events of a second pass = %v, want none", got)
			}
			if !q.s.Pending(q.task1.Spec.TaskID) {
				t.Error("the pod told why is not queued any more")
			}
		})
	}
}

// A pod a round left waiting for the next offers (its room taken), for which no round
// comes again, is told the round's explanation once it has waited waitingMarked.
func TestAWaitingPodNoRoundCameForIsToldTheLastRoundsWhy(t *testing.T) {
	q := queueTwo(t, "first", "1", "second", "1")
	ctx := context.Background()
	q.s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 1.5)})
	if got := podCondition(t, q.c, q.pod2); got != "" {
		t.Fatalf("the waiting pod's explanation = %q, want none yet", got)
	}
	drain(q.rec)

	queuedEarlier(q.s, waitingMarked)
	q.s.tellWaiting(ctx, time.Now())

	if got, want := podCondition(t, q.c, q.pod2), "0/1 agents available: 1 insufficient cpus."; got != want {
		t.Errorf("the waiting pod's explanation = %q, want the round's %q", got, want)
	}
}

// One pass tells at most tellWaitingAtMost pods, the longest queued first: each is a few
// writes made in the offer loop.
func TestTellWaitingTellsTheOldestFirstAndNotAllAtOnce(t *testing.T) {
	var objs []client.Object
	var pods []*corev1.Pod
	var tasks []*mesosv1alpha1.MesosTask
	for i := range tellWaitingAtMost + 1 {
		pod, mt := podWithTask(fmt.Sprintf("p%03d", i), "1")
		pods, tasks, objs = append(pods, pod), append(tasks, mt), append(objs, pod, mt)
	}
	c := fakeAPI(t, objs...)
	s, rec := newTestScheduler(c, newFakeDriver())
	rec.Events = make(chan string, 2*len(pods))
	ctx := context.Background()
	for i := range pods {
		s.Enqueue(ctx, tasks[i], pods[i])
	}
	// The last queued has waited longest.
	queuedEarlier(s, waitingMarked)
	editPending(s, func(p *pendingTask) { p.queued = p.queued.Add(-time.Minute) }, tasks[len(tasks)-1].Spec.TaskID)

	s.tellWaiting(ctx, time.Now())

	if got := len(drain(rec)); got != tellWaitingAtMost {
		t.Errorf("a pass told %d pods, want %d", got, tellWaitingAtMost)
	}
	if podCondition(t, c, pods[len(pods)-1]) == "" {
		t.Error("the pod queued longest was not told")
	}
	if podCondition(t, c, pods[len(pods)-2]) != "" {
		t.Error("the pod queued last of those as old was told, though the pass had told its most")
	}
	s.tellWaiting(ctx, time.Now())
	if podCondition(t, c, pods[len(pods)-2]) == "" {
		t.Error("the next pass did not tell the pod left over")
	}
}

// A pod told that the framework is not subscribed is told again once it is and still no
// offer comes; one told why by a round is not told "no offers" over it.
func TestWhyNoRoundTriedAPodFollowsTheSubscription(t *testing.T) {
	q := queueTwo(t, "a", "1", "b", "64")
	ctx := context.Background()
	q.d.endSubscription(false)
	queuedEarlier(q.s, waitingMarked)
	q.s.tellWaiting(ctx, time.Now())
	if got := podCondition(t, q.c, q.pod1); got != whyNotSubscribed {
		t.Fatalf("the pod's explanation while not subscribed = %q, want %q", got, whyNotSubscribed)
	}

	q.d.mu.Lock()
	q.d.unsubscribed = false
	q.d.mu.Unlock()
	q.s.tellWaiting(ctx, time.Now())
	if got := podCondition(t, q.c, q.pod1); got != whyNoOffers {
		t.Errorf("the pod's explanation once subscribed = %q, want %q", got, whyNoOffers)
	}

	// A round too small for b tells it why; the passes after leave that be.
	q.s.handleNew(ctx, []mesos.Offer{agentOffer("agent-1", 2)})
	drain(q.rec)
	q.s.tellWaiting(ctx, time.Now())
	if got, want := podCondition(t, q.c, q.pod2), "0/1 agents available: 1 insufficient cpus."; got != want {
		t.Errorf("the explanation of the pod a round tried = %q, want the round's %q", got, want)
	}
	if got := drain(q.rec); len(got) != 0 {
		t.Errorf("events of a pass after the round = %v, want none", got)
	}
}
