package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/podtask"
)

// taskLister is a Driver that can ask the master for the tasks it holds
// (framework.Connection.GetTasks).
type taskLister interface {
	GetTasks(ctx context.Context) ([]framework.MasterTask, error)
}

// learnEarlierTasks asks the master, after a subscription, for the cluster's tasks it
// holds, and records each that may run and whose pod is gone while nothing records it:
// a pod removed (force-deleted, say) while no manager led, whose MesosTask, held in
// memory, went with the last leader; or a burst's deferred create lost with its manager.
// Such a task is no pod's, and Mesos's reports on it are answered with a KILL, but
// nothing held its pod's name: a StatefulSet's pod made again under it would be launched
// at once, and run beside the earlier one. Each is recorded as the MesosTask of a pod
// deleted: written, then deleted, so that its finalizer has the task killed, and a pod
// of that name waits for it (PodReconciler.awaitEarlierTask, launchable), as it would
// had the MesosTask been kept. It says whether that is done: the master answered, and
// every agent it recovered from its registry was back (else awaitRecoveredAgents says).
//
// It runs after this process's first subscription (a manager that starts, or a new
// leader), once the reconciliation that follows it is over (at 10,000 tasks the two
// side by side made the reconciliation 0.5-1 s longer); later subscriptions (a master
// failover) find the records this process keeps. Offer rounds wait for it, with the
// executors (awaitExecutors), for at most knownWait.
func (s *Scheduler) learnEarlierTasks(ctx context.Context, d Driver) (done bool) {
	holding := false
	defer func() {
		if !holding {
			// A hold of fixed names an earlier subscription began ends with this look
			// (namehold.go).
			s.releaseNames(ctx, 0)
		}
	}()
	l, ok := d.(taskLister)
	if !ok {
		return false
	}
	started := time.Now()
	listCtx, cancel := context.WithTimeout(ctx, executorsWait)
	defer cancel()
	// The agents first: one that registers with the master between the two answers is
	// looked at again.
	recovered, agentsListed := s.recoveredAgents(listCtx, d)
	list, err := l.GetTasks(listCtx)
	if err == nil && agentsListed {
		// Without the agents' list it cannot tell the tasks of an agent the master
		// recovered and has not seen again (it failed over) from tasks its ACLs hide: the
		// list is taken as whole. A master that refuses the agents' list is shown as such
		// (AgentsNotListed).
		err = s.hiddenTasks(ctx, d.FrameworkID(), list, recovered)
	}
	if err != nil {
		s.Log.Info("Could not list the tasks Mesos holds; the task of a pod removed while no manager led is killed when Mesos reports it, and a pod made again under its name is not held back meanwhile",
			"error", err.Error())
		if ctx.Err() == nil && !errors.Is(err, framework.ErrNotSubscribed) {
			reportTasksListed(d, err)
		}
		return false
	}
	reportTasksListed(d, nil)
	cancel()
	recorded := s.recordEarlierTasks(ctx, d, list, nil)
	s.Log.Info("Looked for tasks of pods that are gone among those Mesos holds", "tasks", len(list), "recorded", recorded,
		"agentsNotBack", len(recovered), "duration", time.Since(started).Round(time.Millisecond).String())
	if len(recovered) > 0 {
		holding = true
		s.holdNames(ctx, d.Subscription())
		go s.awaitRecoveredAgents(ctx, d, l, recovered)
		return false
	}
	return true
}

// scanned records that the tasks Mesos holds were looked at: later subscriptions find
// the records this process keeps.
func (s *Scheduler) scanned() {
	s.mu.Lock()
	s.earlierScanned = true
	s.mu.Unlock()
}

// awaitReconciled waits, for at most executorsWait, until the reconciliation of the
// subscription is over (round.finished).
func (s *Scheduler) awaitReconciled(ctx context.Context, subscription uint64) {
	_ = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, executorsWait, true, func(context.Context) (bool, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.round != nil && s.round.subscription == subscription && s.round.finished, nil
	})
}

// recordEarlierTasks records the tasks of list, of the agents in only (all when nil),
// that may run, are the cluster's and that nothing records (recordsTask), and says how
// many it recorded.
func (s *Scheduler) recordEarlierTasks(ctx context.Context, d Driver, list []framework.MasterTask, only map[string]bool) (recorded int) {
	fw := d.FrameworkID()
	for i := range list {
		t := &list[i]
		if t.FrameworkID != fw || podtask.IsTerminal(t.State) || (only != nil && !only[t.AgentID]) {
			continue
		}
		ref, ok := podtask.PodRefFromLabels(t.Labels)
		if !ok || s.recordsTask(ctx, t.TaskID, ref) {
			continue
		}
		if s.recordEarlier(ctx, t, ref) {
			recorded++
		}
	}
	return recorded
}

// tasksReporter is a Driver that shows whether the master listed the tasks it holds
// (framework.Driver.SetTasksListed: the MesosCluster's Degraded condition).
type tasksReporter interface {
	SetTasksListed(err error)
}

func reportTasksListed(d Driver, err error) {
	if r, ok := d.(tasksReporter); ok {
		r.SetTasksListed(err)
	}
}

// hiddenTasks says why a list of the tasks Mesos holds that names none of the
// framework's is not whole, when the records say Mesos runs some on agents registered
// with it (launched a while ago, RUNNING in its last report): the master leaves out of
// GET_TASKS a task its ACLs hide from the principal (VIEW_FRAMEWORK, VIEW_TASK), and
// refuses nothing. nil when the list may be whole.
func (s *Scheduler) hiddenTasks(ctx context.Context, fw string, list []framework.MasterTask, recovered map[string]bool) error {
	for i := range list {
		if list[i].FrameworkID == fw {
			return nil
		}
	}
	records, err := s.Tasks.OfCluster(ctx, s.clusterName())
	if err != nil {
		return nil // it cannot tell
	}
	running := 0
	for _, mt := range records {
		if mt.Status.MesosState == mesos.TASK_RUNNING.String() && !recovered[mt.Status.AgentID] &&
			mt.Status.LaunchedAt != nil && time.Since(mt.Status.LaunchedAt.Time) > launchInFlight {
			running++
		}
	}
	if running == 0 {
		return nil
	}
	return fmt.Errorf("the master listed %d tasks, none of framework %s, which runs %d: its ACLs hide them from the framework's principal (VIEW_FRAMEWORK, VIEW_TASK)",
		len(list), fw, running)
}

// agentLister is a Driver that can ask the master for its agents
// (framework.Connection.GetAgents).
type agentLister interface {
	GetAgents(ctx context.Context) ([]framework.MasterAgent, error)
}

const (
	// recoveredAgentsPoll is how often the master is asked whether the agents it
	// recovered from its registry (it failed over) have registered with it again: it
	// knows their tasks only from then on, and tells the framework nothing of them.
	recoveredAgentsPoll = 5 * time.Second
	// recoveredAgentsWait is how long they are waited for: Mesos's master takes an agent
	// that has not registered again for unreachable after --agent_reregister_timeout
	// (10 minutes by default).
	recoveredAgentsWait = 15 * time.Minute
)

// recoveredAgents are the ids of the agents the master recovered from its registry and
// that have not registered with it since; ok is false when it cannot tell.
func (s *Scheduler) recoveredAgents(ctx context.Context, d Driver) (ids map[string]bool, ok bool) {
	l, ok := d.(agentLister)
	if !ok {
		return nil, false
	}
	agents, err := l.GetAgents(ctx)
	if err != nil {
		return nil, false
	}
	ids = map[string]bool{}
	for _, a := range agents {
		if a.Recovered {
			ids[a.ID] = true
		}
	}
	return ids, true
}

// awaitRecoveredAgents asks the master every recoveredAgentsPoll, for as long as the
// subscription lasts and at most recoveredAgentsWait, which of the agents it had
// recovered have registered with it again, and records the tasks of theirs whose pods
// are gone (recordEarlierTasks): a pod removed while a manager and a master failed over,
// and made again under its name, waits for its earlier task from then on, not from the
// periodic reconciliation's report of it. Once all are back the look is done (scanned);
// if the subscription ends first, the next one looks again. Pods of fixed names wait
// meanwhile, with TasksInMemory (namehold.go), until all are back or the wait is over.
func (s *Scheduler) awaitRecoveredAgents(ctx context.Context, d Driver, l taskLister, waiting map[string]bool) {
	subscription := d.Subscription()
	every := s.recoveredAgentsPoll
	if every <= 0 {
		every = recoveredAgentsPoll
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for deadline := time.Now().Add(recoveredAgentsWait); len(waiting) > 0 && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if d.Subscription() != subscription {
			return // the next subscription looks again
		}
		still, ok := s.recoveredAgents(ctx, d)
		if !ok {
			continue // asked again at the next poll
		}
		back := map[string]bool{}
		for id := range waiting {
			if !still[id] {
				back[id] = true
			}
		}
		if len(back) == 0 {
			continue
		}
		list, err := l.GetTasks(ctx)
		if err != nil {
			continue // asked again at the next poll
		}
		s.recordEarlierTasks(ctx, d, list, back)
		for id := range back {
			delete(waiting, id)
		}
	}
	if len(waiting) == 0 {
		s.scanned()
	}
	s.releaseNames(ctx, subscription)
}

// recordsTask says whether something records a task already: its MesosTask, its pod
// (bound, or being deleted), or this process's launch of it. One it cannot tell of
// counts as recorded: it is killed when Mesos reports it, as before.
func (s *Scheduler) recordsTask(ctx context.Context, taskID string, ref podtask.PodRef) bool {
	if mt, err := s.taskByID(ctx, taskID); err != nil || mt != nil {
		return true
	}
	if _, ok := s.launchedPod(taskID); ok {
		return true
	}
	pod := &corev1.Pod{}
	err := s.Client.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, pod, client.UnsafeDisableDeepCopy)
	return (err == nil && pod.UID == ref.UID) || (err != nil && !apierrors.IsNotFound(err))
}

// recordEarlier writes the MesosTask of a task whose pod is gone (podtask.EarlierTask)
// and deletes it, then waits until the cache shows it (for at most a few seconds: it
// may be gone already, its task killed), so that no offer round launches a pod of that
// name meanwhile. A MesosTask of that name held by another pod's task is
// left alone: the earlier task is killed when Mesos reports it.
func (s *Scheduler) recordEarlier(ctx context.Context, t *framework.MasterTask, ref podtask.PodRef) bool {
	latest := mesos.TaskStatus{TaskID: mesos.TaskID{Value: t.TaskID}}
	if t.Latest != nil {
		latest = *t.Latest
	}
	state := t.State
	latest.State = &state
	if latest.AgentID == nil {
		latest.AgentID = &mesos.AgentID{Value: t.AgentID}
	}
	if latest.ExecutorID == nil && t.ExecutorID != "" {
		latest.ExecutorID = &mesos.ExecutorID{Value: t.ExecutorID}
	}
	mt := podtask.EarlierTask(ref, s.clusterName(), t.TaskID, t.ExecutorID, latest, metav1.Now())
	podtask.StampGeneration(mt)
	log := s.Log.WithValues("task", t.TaskID, "pod", types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}.String())
	if err := s.Client.Create(ctx, mt); err != nil {
		log.Info("Could not record the task of a pod that is gone; it is killed when Mesos reports it", "error", err.Error())
		return false
	}
	log.Info("Recorded the task of a pod that is gone, to kill it before a pod of its name runs", "state", t.State.String())
	if err := s.Client.Delete(ctx, mt, client.Preconditions{UID: &mt.UID}); client.IgnoreNotFound(err) != nil {
		log.Info("Could not delete the record of the task of a pod that is gone; it is deleted as its pod's absence is noticed", "error", err.Error())
	}
	key := client.ObjectKeyFromObject(mt)
	_ = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 2*time.Second, true, func(ctx context.Context) (bool, error) {
		cached := &mesosv1alpha1.MesosTask{}
		err := s.Client.Get(ctx, key, cached, client.UnsafeDisableDeepCopy)
		return err == nil && cached.UID == mt.UID || (err != nil && !apierrors.IsNotFound(err)), nil
	})
	return true
}
