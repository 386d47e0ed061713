package scheduler

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/podtask"
)

// launchInFlight is how long after its launch a task is left out of reconciliation.
const launchInFlight = 10 * time.Second

// reconcileTasks asks Mesos for the state of every launched, non-terminal task (and of
// every bound pod's task not written yet; with TasksInMemory, those whose pods show
// they ran get their records made again from their pods first: remakeRecords), then for
// all of the framework's tasks; the answers come as updates. The cluster counts as
// reconciled once Mesos answered for every task asked about (see round).
func (s *Scheduler) reconcileTasks(ctx context.Context, d Driver) {
	s.reconcileTasksAttempt(ctx, d, 0)
}

// reconcileTasksAttempt is one attempt of reconcileTasks: when a reconciliation call
// fails, the subscription may well go on (a call that timed out), so the reconciliation
// is tried again after a while, not only after the next subscription or in
// ReconcileInterval (15 minutes), while the cluster cannot say Reconciled.
func (s *Scheduler) reconcileTasksAttempt(ctx context.Context, d Driver, attempt int) {
	s.mu.Lock()
	s.reconcileAttempts++
	this, subscription := s.reconcileAttempts, d.Subscription()
	s.mu.Unlock()
	// Read only: the cache's own objects, not a copy of each of thousands of tasks.
	list, err := s.Tasks.OfCluster(ctx, s.clusterName())
	if err != nil {
		s.reconcileAgain(ctx, d, this, subscription, attempt, "Could not list the tasks to reconcile", err)
		return
	}
	explicit := map[string]string{}
	var skipped []string
	inFlight := func(taskID string) bool {
		if l, ok := s.launchOf(taskID); ok && time.Since(l.At.Time) < launchInFlight {
			// Just launched: the question could overtake the launch, and Mesos would say
			// it does not know the task. Asked again in a moment.
			skipped = append(skipped, taskID)
			return true
		}
		return false
	}
	written := make(map[types.NamespacedName]bool, len(list))
	for _, mt := range list {
		written[client.ObjectKeyFromObject(mt)] = true
		if inFlight(mt.Spec.TaskID) {
			continue
		}
		if agent, ask := s.toReconcile(ctx, mt); ask {
			explicit[mt.Spec.TaskID] = agent
		}
	}
	// The pods the cluster bound whose task has not reported yet (no MesosTask): their
	// launch may have been sent by a manager that stopped before any update was written.
	pods, err := s.boundUnwritten(ctx, written)
	if err != nil {
		s.reconcileAgain(ctx, d, this, subscription, attempt, "Could not list the bound pods to reconcile", err)
		return
	}
	var remake []*corev1.Pod
	for _, pod := range pods {
		id := podtask.TaskIDFor(pod)
		if inFlight(id) {
			continue
		}
		if agent, ok := s.unrecordedAgent(ctx, pod); ok {
			if s.TasksInMemory {
				remake = append(remake, pod)
			}
			explicit[id] = agent
		} else {
			skipped = append(skipped, id) // its agent unknown yet
		}
	}
	s.remakeRecords(ctx, remake)
	r := s.startRound(d, explicit)
	if len(explicit) > 0 {
		if err := d.Reconcile(ctx, explicit); err != nil {
			s.reconcileAgain(ctx, d, this, r.subscription, attempt, "Explicit reconciliation failed", err)
			return
		}
	}
	if err := d.Reconcile(ctx, nil); err != nil {
		s.reconcileAgain(ctx, d, this, r.subscription, attempt, "Implicit reconciliation failed", err)
		return
	}
	s.roundSent(r)
	if len(skipped) > 0 {
		s.askLater(ctx, d, skipped)
	}
	go s.awaitAnswers(ctx, r)
}

// reconcileAgain tries a reconciliation that failed (its tasks or pods could not be
// listed, or a reconciliation call failed) again after s.reconcileRetry (as awaitAnswers
// asks again), twice as long each time up to reconcileRetryMax, while the subscription it
// was for lasts and no attempt started since (this is the failed one's number: of two
// that failed, only the later is tried again). Until a round is answered the cluster is
// not Reconciled, and pods wait on it (one whose agent stays unreachable is not failed
// NodeLost, nor is Ready restored after an outage).
func (s *Scheduler) reconcileAgain(ctx context.Context, d Driver, this uint64, subscription uint64, attempt int, what string, err error) {
	wait := min(s.reconcileRetry<<min(attempt, 8), reconcileRetryMax)
	s.Log.Info(what+"; trying again", "after", wait, "error", err.Error())
	time.AfterFunc(wait, func() {
		s.mu.Lock()
		current := s.reconcileAttempts == this
		s.mu.Unlock()
		if ctx.Err() != nil || !current || !d.Subscribed() || d.Subscription() != subscription {
			return // superseded, or the next subscription reconciles
		}
		s.reconcileTasksAttempt(ctx, d, attempt+1)
	})
}

const (
	// reconcileRetry is how long Mesos is given to answer an explicit reconciliation
	// before the tasks it did not answer for are asked about again; the wait doubles each
	// time, up to reconcileRetryMax.
	reconcileRetry    = 5 * time.Second
	reconcileRetryMax = time.Minute
)

// round is one explicit reconciliation: the tasks asked about that Mesos has not answered
// for yet. Mesos answers each with an update (its latest state, or TASK_GONE,
// TASK_UNKNOWN… for one it does not know), except where it cannot tell yet (an agent
// the master recovered from its registry that has not re-registered): those are asked
// about again with a backoff, as Mesos's reconciliation guide advises. The cluster is
// Reconciled once every task was answered for and the implicit reconciliation was sent.
type round struct {
	d            Driver
	subscription uint64
	started      time.Time
	asked        int
	waiting      map[string]string // task id -> agent id
	sent         bool              // the implicit reconciliation went out
	finished     bool
	done         chan struct{}
}

// startRound makes the round of the tasks about to be asked about, superseding any
// earlier one.
func (s *Scheduler) startRound(d Driver, explicit map[string]string) *round {
	r := &round{d: d, subscription: d.Subscription(), started: time.Now(), asked: len(explicit),
		waiting: make(map[string]string, len(explicit)), done: make(chan struct{})}
	for id, agent := range explicit {
		r.waiting[id] = agent
	}
	s.mu.Lock()
	s.round = r
	s.mu.Unlock()
	return r
}

// roundSent records that a round's implicit reconciliation went out.
func (s *Scheduler) roundSent(r *round) {
	s.mu.Lock()
	r.sent = true
	finish := s.finishLocked(r)
	s.mu.Unlock()
	if finish {
		s.finish(r)
	}
}

// answered records that an update of a task was persisted: Mesos answered for it.
func (s *Scheduler) answered(taskID string) {
	s.mu.Lock()
	r := s.round
	if r == nil {
		s.mu.Unlock()
		return
	}
	if _, ok := r.waiting[taskID]; !ok {
		s.mu.Unlock()
		return
	}
	delete(r.waiting, taskID)
	finish := s.finishLocked(r)
	s.mu.Unlock()
	if finish {
		s.finish(r)
	}
}

// finishLocked says, once, that a round is complete; s.mu is held.
func (s *Scheduler) finishLocked(r *round) bool {
	if r.finished || !r.sent || len(r.waiting) > 0 {
		return false
	}
	r.finished = true
	return true
}

// finish tells the driver that its tasks are reconciled.
func (s *Scheduler) finish(r *round) {
	close(r.done)
	r.d.SetReconciled(r.subscription)
	s.Log.Info("Reconciled the tasks with Mesos", "tasks", r.asked, "duration", time.Since(r.started).Round(time.Millisecond).String())
}

// unanswered is what a round still waits for, or nil once it is over or superseded.
func (s *Scheduler) unanswered(r *round) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.round != r || r.finished {
		return nil
	}
	ask := make(map[string]string, len(r.waiting))
	for id, agent := range r.waiting {
		ask[id] = agent
	}
	return ask
}

// awaitAnswers asks Mesos again, with a backoff, about the tasks of a round it has not
// answered for, until it has, or the round is superseded or its subscription over.
func (s *Scheduler) awaitAnswers(ctx context.Context, r *round) {
	wait := s.reconcileRetry
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-r.done:
			t.Stop()
			return
		case <-t.C:
		}
		ask := s.unanswered(r)
		if len(ask) == 0 || !r.d.Subscribed() || r.d.Subscription() != r.subscription {
			return
		}
		s.Log.Info("Asking Mesos again about tasks it has not answered for", "tasks", len(ask), "after", wait.String())
		if err := r.d.Reconcile(ctx, ask); err != nil {
			s.Log.Info("Could not ask Mesos again; retrying", "error", err.Error())
		}
		wait = min(2*wait, reconcileRetryMax)
	}
}

// boundUnwritten lists the pods bound to the cluster's agent Nodes, not ended, that have
// no MesosTask among written: the cache's own objects, not to be changed. Those bound by
// another (a DaemonSet's, of another schedulerName) are among them where their status
// shows their task launched (podtask.LaunchedOnPod: k8sm recorded the launch, or Mesos
// reported the task): their MesosTask, which records their launch before it
// is sent, is gone. One that shows nothing is the Pod reconciler's to take
// (its namespace and what it asks are checked before any launch), not Mesos's to answer.
func (s *Scheduler) boundUnwritten(ctx context.Context, written map[types.NamespacedName]bool) ([]*corev1.Pod, error) {
	ours := s.currentCluster().Spec.SchedulerName
	var nodes corev1.NodeList
	if err := s.Client.List(ctx, &nodes, client.MatchingLabels{agentnode.LabelCluster: s.clusterName()}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	var out []*corev1.Pod
	for i := range nodes.Items {
		pods, err := s.Tasks.PodsOnNode(ctx, nodes.Items[i].Name)
		if err != nil {
			return nil, err
		}
		for _, p := range pods {
			if podtask.PodTerminal(p) || written[client.ObjectKeyFromObject(p)] || (p.Spec.SchedulerName != ours && !podtask.LaunchedOnPod(p)) {
				continue
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// askLater asks Mesos, launchInFlight from now (s.askAfter), about those of the tasks
// that had no update written since their launch. It asks about those tasks only: a full
// reconciliation each time would, under a steady stream of launches, ask about every
// task every few seconds. A call that fails is made again, each wait twice the one
// before (up to reconcileRetryMax), while the subscription lasts: left to the periodic
// reconciliation, a pod whose launch Mesos never got would wait, bound and Pending, for
// up to ReconcileInterval.
func (s *Scheduler) askLater(ctx context.Context, d Driver, taskIDs []string) {
	s.askAgain(ctx, d, d.Subscription(), taskIDs, s.askAfter)
}

func (s *Scheduler) askAgain(ctx context.Context, d Driver, subscription uint64, taskIDs []string, wait time.Duration) {
	time.AfterFunc(wait, func() {
		if ctx.Err() != nil || !d.Subscribed() || d.Subscription() != subscription {
			return // the reconciliation after the next subscription asks
		}
		ask := map[string]string{}
		for _, id := range taskIDs {
			mt, err := s.taskByID(ctx, id)
			if err != nil || (mt != nil && mt.Status.MesosState != "") {
				continue // an update was written
			}
			if mt == nil {
				// Not written yet: asked about while its pod is bound.
				if pod, err := s.podOfTask(ctx, id); err == nil && pod != nil && !podtask.PodTerminal(pod) {
					if agent, ok := s.unrecordedAgent(ctx, pod); ok {
						ask[id] = agent
					}
				}
				continue
			}
			if agent, ok := s.toReconcile(ctx, mt); ok {
				ask[id] = agent
			}
		}
		if len(ask) == 0 {
			return
		}
		if err := d.Reconcile(ctx, ask); err != nil {
			next := min(2*wait, reconcileRetryMax)
			s.Log.Info("Could not ask Mesos about tasks without a written update; trying again", "tasks", len(ask), "after", next, "error", err.Error())
			s.askAgain(ctx, d, subscription, taskIDs, next)
		}
	})
}

// toReconcile says whether to ask Mesos about a MesosTask's task, and with which agent
// id: a launched task that has not ended, or one whose pod is bound while the MesosTask
// says nothing yet (launched by a manager that stopped, or not at all: Mesos says which,
// and a task it never saw goes back to the queue).
//
// A task whose launch no update recorded (its pod bound, its MesosTask not written or
// saying nothing) is asked about only with its agent, read off its Node. Asked without
// one, a master that failed over answers that it does not know the task (Mesos:
// Master::reconcile, "slave is unknown") while its agent has not registered again, where
// with the agent it waits for it; the task, taken for a launch Mesos never ran, was then
// launched again on that agent. A pod whose Node the cache does not have (yet) is asked
// about later (askLater), or at the next reconciliation; one whose Node is gone is the pod
// garbage collector's.
func (s *Scheduler) toReconcile(ctx context.Context, mt *mesosv1alpha1.MesosTask) (agentID string, ask bool) {
	if podtask.Launched(mt.Status.Phase) {
		return mt.Status.AgentID, !podtask.IsTerminalPhase(mt.Status.Phase)
	}
	pod := &corev1.Pod{}
	if mt.Status.Phase != "" || s.Client.Get(ctx, client.ObjectKeyFromObject(mt), pod) != nil || !podtask.BoundUnrecorded(mt, pod) {
		return "", false
	}
	return s.unrecordedAgent(ctx, pod)
}

// unrecordedAgent is the agent to ask Mesos about a bound pod's task with when no update
// recorded its launch: its Node's; ok is false where the cache has no such Node, and
// the task is not to be asked about (see toReconcile).
func (s *Scheduler) unrecordedAgent(ctx context.Context, pod *corev1.Pod) (agentID string, ok bool) {
	agentID, _ = s.agentOfNode(ctx, pod.Spec.NodeName)
	return agentID, agentID != ""
}

// agentOfNode is the Mesos agent id and hostname of an agent's Node, empty where not known.
func (s *Scheduler) agentOfNode(ctx context.Context, node string) (agentID, hostname string) {
	return AgentOfNode(ctx, s.Client, node)
}

// AgentOfNode is the Mesos agent id and hostname of an agent's Node, read from c (the
// cache's own Node: no copy of all of it for two strings); empty where not known.
func AgentOfNode(ctx context.Context, c client.Reader, node string) (agentID, hostname string) {
	n := &corev1.Node{}
	if node == "" || c.Get(ctx, client.ObjectKey{Name: node}, n, client.UnsafeDisableDeepCopy) != nil {
		return "", ""
	}
	return n.Annotations[agentnode.AnnotationAgentID], n.Labels[corev1.LabelHostname]
}

// reconcileLoop reconciles again every ReconcileInterval, as Mesos advises.
func (s *Scheduler) reconcileLoop(ctx context.Context) {
	every := s.ReconcileInterval
	if every <= 0 {
		every = DefaultReconcileInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if d := s.currentDriver(); d != nil && d.Subscribed() {
				s.reconcileTasks(ctx, d)
			}
		}
	}
}

// taskByID is the MesosTask of a Mesos task id, or nil if none has it: the cache's own
// object, to read only (every update looks its task up, and then reads it to write).
func (s *Scheduler) taskByID(ctx context.Context, taskID string) (*mesosv1alpha1.MesosTask, error) {
	return s.Tasks.MesosTask(ctx, taskID)
}
