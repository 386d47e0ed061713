package scheduler

import (
	"context"
	"slices"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// executorStartedBesideAHeldOffer is a scheduler whose first round started the
// executor on agent-1 from role a's offer (with p1) and holds role b's offer of the
// agent; p2 is queued for the next round. It returns the ExecutorInfo started.
func executorStartedBesideAHeldOffer(t *testing.T) (*Scheduler, *fakeDriver, *mesos.ExecutorInfo) {
	t.Helper()
	pod1, mt1 := podWithTask("p1", "500m")
	pod2, mt2 := podWithTask("p2", "500m")
	c := fakeAPI(t, pod1, pod2)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	s.SetCluster(holdingCluster(10))
	ctx := context.Background()
	s.Enqueue(ctx, mt1, pod1)
	s.handleNew(ctx, []mesos.Offer{roleOfferOf("oa", "agent-1", "a", 1), roleOfferOf("ob", "agent-1", "b", 1)})
	if len(d.accepted) != 1 || !s.holding() {
		t.Fatalf("round 1: launches %v, holding %v; want one launch and role b's offer held", d.launches, s.holding())
	}
	executor := d.accepted[0][0].Executor
	if role := executor.Resources[0].GetAllocationInfo().GetRole(); role != "a" {
		t.Fatalf("the executor started with role %s's resources, want a's", role)
	}
	s.Enqueue(ctx, mt2, pod2)
	return s, d, executor
}

// A round starts the executor on agent-1 from role a's offer, and holds role b's offer
// of the same agent, made before the executor started. A pod placed on that held offer
// runs in the executor that now runs there, with the ExecutorInfo it was started with:
// it does not start it again with role b's resources, which Mesos refuses ("not
// compatible with existing ExecutorInfo": TASK_ERROR, the pod Failed), nor does what
// the scheduler knows of the executor turn to role b, which made every later task of the
// agent refused the same way until the next subscription.
func TestAHeldOfferMadeBeforeTheExecutorStartedRunsInIt(t *testing.T) {
	s, d, executor := executorStartedBesideAHeldOffer(t)
	s.handleOffers(context.Background(), offerBatch{})
	if len(d.accepted) != 2 || len(d.launches["ob"]) != 1 {
		t.Fatalf("round 2: launches %v, want p2 on the held offer ob", d.launches)
	}
	if got := d.accepted[1][0].Executor; !got.Equal(executor) {
		t.Errorf("p2 names the ExecutorInfo %v, want the running executor's %v", got, executor)
	}
	if got := s.runningExecutor(executor.ExecutorID.Value)("a-agent-1"); len(got) == 0 || got[0].GetAllocationInfo().GetRole() != "a" {
		t.Errorf("the executor known on agent-1 has resources %v, want role a's it was started with", got)
	}
}

// An executor the round started on agent-1 ends (Mesos reports its FAILURE) while role
// b's offer of the agent is held, listing it. The next pod placed on that offer starts
// the executor again, with the held offer's resources: placed as if the executor ran,
// its launch would carry neither, and Mesos, counting in the resources of an executor it
// has to start, refuses it when the offer has no room for both (TASK_ERROR, the pod
// Failed), or, with the ExecutorInfo of role a, for resources not offered.
func TestAHeldOfferListsNoExecutorThatEnded(t *testing.T) {
	s, d, executor := executorStartedBesideAHeldOffer(t)
	ctx := context.Background()
	s.ExecutorEnded(ctx, "a-agent-1", executor.ExecutorID.Value)

	s.handleOffers(ctx, offerBatch{})
	if len(d.accepted) != 2 || len(d.launches["ob"]) != 1 {
		t.Fatalf("round 2: launches %v, want p2 on the held offer ob", d.launches)
	}
	got := d.accepted[1][0].Executor
	if got == nil || len(got.Resources) == 0 || got.Resources[0].GetAllocationInfo().GetRole() != "b" {
		t.Fatalf("p2 names the ExecutorInfo %v, want the executor started again with role b's resources", got)
	}
}

// The master rejects the ACCEPT that started the executor on agent-1 (its offer was
// rescinded: TASK_DROPPED, REASON_INVALID_OFFERS), so the executor never started. The
// next pod, placed on role b's held offer, starts it itself, with that offer's
// resources: taken for running, its launch would carry none, and Mesos, counting in the
// resources of an executor it has to start, would refuse it (TASK_ERROR, the pod Failed).
func TestAnExecutorWhoseAcceptTheMasterRejectedIsNotTakenForRunning(t *testing.T) {
	s, d, executor := executorStartedBesideAHeldOffer(t)
	ctx := context.Background()
	dropped := masterUpdate(d.accepted[0][0].TaskID.Value, mesos.TASK_DROPPED, mesos.REASON_INVALID_OFFERS)
	dropped.status.AgentID = &d.accepted[0][0].AgentID
	newWorker(s, -1).handle(ctx, dropped)

	s.handleOffers(ctx, offerBatch{})
	// p1, whose launch Mesos dropped, is launched again beside it.
	if len(d.accepted) != 2 || !slices.Contains(d.launches["ob"], "k8sm.uid-p2") {
		t.Fatalf("round 2: launches %v, want p2 on the held offer ob", d.launches)
	}
	got := d.accepted[1][0].Executor
	if got == nil || got.ExecutorID != executor.ExecutorID || len(got.Resources) == 0 || got.Resources[0].GetAllocationInfo().GetRole() != "b" {
		t.Fatalf("p2 names the ExecutorInfo %v, want the executor started with role b's resources", got)
	}
}

// The master's rejection of the ACCEPT that was to start the executor (TASK_DROPPED,
// REASON_INVALID_OFFERS, on the event stream) is handled before the ACCEPT's own answer
// comes back: the executor, which never started, is not taken for running after it.
func TestAnExecutorWhoseAcceptWasRejectedBeforeItsAnswerIsNotTakenForRunning(t *testing.T) {
	pod1, mt1 := podWithTask("p1", "500m")
	c := fakeAPI(t, pod1)
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	ctx := context.Background()
	s.Enqueue(ctx, mt1, pod1)
	d.duringLaunch = func() {
		d.duringLaunch = nil
		dropped := masterUpdate(d.accepted[0][0].TaskID.Value, mesos.TASK_DROPPED, mesos.REASON_INVALID_OFFERS)
		dropped.status.AgentID = &d.accepted[0][0].AgentID
		newWorker(s, -1).handle(ctx, dropped)
	}
	s.handleNew(ctx, []mesos.Offer{roleOfferOf("oa", "agent-1", "a", 1)})
	if len(d.accepted) != 1 || d.accepted[0][0].Executor == nil {
		t.Fatalf("launches %v; want p1's, starting the executor", d.launches)
	}
	if got := s.runningExecutor(d.accepted[0][0].Executor.ExecutorID.Value)("a-agent-1"); got != nil {
		t.Errorf("the executor is taken for running on agent-1, with %v", got)
	}
}

// A rejection remembered of an earlier launch of a task id (its pod launched again: the
// id is the pod's) says nothing of the next launch: the executor that one starts is taken
// for running.
func TestAnEarlierRejectionOfATaskIDIsNotItsNextLaunchs(t *testing.T) {
	pod1, mt1 := podWithTask("p1", "500m")
	d := newFakeDriver()
	s, _ := newTestScheduler(fakeAPI(t, pod1), d)
	ctx := context.Background()
	s.launchRejected(mesos.TaskStatus{TaskID: mesos.TaskID{Value: mt1.Spec.TaskID}, AgentID: &mesos.AgentID{Value: "a-agent-1"},
		State: mesos.TASK_DROPPED.Enum(), Source: mesos.SOURCE_MASTER.Enum(), Reason: mesos.REASON_INVALID_OFFERS.Enum()})
	s.Enqueue(ctx, mt1, pod1)
	s.handleNew(ctx, []mesos.Offer{roleOfferOf("ob", "agent-2", "a", 1)})
	if len(d.accepted) != 1 || d.accepted[0][0].Executor == nil {
		t.Fatalf("launches %v; want p1's, starting the executor on agent-2", d.launches)
	}
	if got := s.runningExecutor(d.accepted[0][0].Executor.ExecutorID.Value)("a-agent-2"); got == nil {
		t.Error("the executor started on agent-2 is not taken for running")
	}
}
