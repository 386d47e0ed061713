package scheduler

import (
	"context"
	"slices"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/placement"
	"github.com/k8sm/k8sm/internal/podtask"
)

// launchedExecutor is an executor this process launched on an agent: its id and the
// resources of its ExecutorInfo, and when (zero for one the master listed).
type launchedExecutor struct {
	id        string
	resources []mesos.Resource
	at        time.Time
	// startedBy are the tasks of the ACCEPT that started it (launchRejected).
	startedBy []string
}

// executorLaunched remembers, for each agent where an ACCEPT Mesos took started the
// executor (its placement said an assignment NeedsExecutor), the resources the executor
// was launched with, over what was known of an earlier one there. Mesos takes a later
// task in that executor only with the very same ExecutorInfo (validation.cpp: "not
// compatible with existing ExecutorInfo"), roles, reservations and allocation info
// included, which a later offer of the agent need not show (runningExecutor). The
// tasks on an agent all name the same ExecutorInfo, so any of them tells, even when
// the task placed to start it was dropped before the ACCEPT.
func (s *Scheduler) executorLaunched(asgs []placement.Assignment, launch []mesos.TaskInfo) {
	starts := map[string]bool{}
	for i := range asgs {
		if asgs[i].NeedsExecutor {
			starts[asgs[i].AgentID.Value] = true
		}
	}
	if len(starts) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range launch {
		e, agent := launch[i].Executor, launch[i].AgentID.Value
		if e == nil || !starts[agent] {
			continue
		}
		delete(starts, agent)
		if s.executors == nil {
			s.executors = map[string]launchedExecutor{}
		}
		var by []string
		rejected := false
		for j := range launch {
			if id := launch[j].TaskID.Value; launch[j].AgentID.Value == agent {
				by = append(by, id)
				_, r := s.rejectedLaunches[id]
				rejected = rejected || r
				delete(s.rejectedLaunches, id)
			}
		}
		if rejected {
			continue // the master's rejection came before its 202: it never started
		}
		s.executors[agent] = launchedExecutor{id: e.ExecutorID.Value, resources: cloneResources(e.Resources), at: time.Now(), startedBy: by}
	}
}

// launchRejected forgets an executor taken for started by an ACCEPT the master then
// rejected whole (its offers invalid: one rescinded, say): it answers each of its tasks
// TASK_DROPPED, or TASK_LOST, with REASON_INVALID_OFFERS (master.cpp, Master::accept),
// and the executor never started. Taken for running, it would be read into the agent's
// held offers of another role, and Mesos, which counts an executor's resources in until
// it runs, would refuse the next task there (TASK_ERROR, the pod Failed).
func (s *Scheduler) launchRejected(ts mesos.TaskStatus) {
	if ts.GetSource() != mesos.SOURCE_MASTER || ts.GetReason() != mesos.REASON_INVALID_OFFERS || ts.AgentID == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.executors[ts.AgentID.Value]; ok && slices.Contains(e.startedBy, ts.TaskID.Value) {
		s.executorEndedLocked(ts.AgentID.Value, e.id) // and off the agent's held offers
		return
	}
	// The master sends the rejection on the event stream, which may bring it before the
	// ACCEPT's own answer: executorLaunched, which comes after that answer, is to know.
	now := time.Now()
	for id, at := range s.rejectedLaunches {
		if now.Sub(at) > rejectedLaunchMemory {
			delete(s.rejectedLaunches, id)
		}
	}
	if s.rejectedLaunches == nil {
		s.rejectedLaunches = map[string]time.Time{}
	}
	s.rejectedLaunches[ts.TaskID.Value] = now
}

// rejectedLaunchMemory is how long a task whose ACCEPT the master rejected is remembered
// for executorLaunched: far longer than an ACCEPT's answer takes.
const rejectedLaunchMemory = time.Minute

// withExecutorsStartedSince is offer as it would be made now, for an offer made before a
// round that started at since: an executor this process started on its agent since then
// is running there, and is listed in a copy of the offer's executor ids. Mesos lists the
// framework's executors on an agent in each offer it makes, but an offer held for the
// next round was made before, and placement, reading the executor off it, would start it
// again: with another role's offer, with that role's resources, which Mesos refuses as
// "not compatible with existing ExecutorInfo". s.mu is held.
func (s *Scheduler) withExecutorsStartedSince(offer mesos.Offer, since time.Time) mesos.Offer {
	e, ok := s.executors[offer.AgentID.Value]
	if !ok || e.at.Before(since) {
		return offer
	}
	for _, id := range offer.ExecutorIDs {
		if id.Value == e.id {
			return offer
		}
	}
	offer.ExecutorIDs = append(slices.Clip(offer.ExecutorIDs), mesos.ExecutorID{Value: e.id})
	return offer
}

// executorEndedLocked forgets an executor that ended on an agent: what it was launched
// with, and its listing in the agent's held offers, made while it ran. Placement would
// read it off such an offer as running and place the next pod there without starting
// it, and Mesos, which counts the executor's resources in for an executor not running
// (src/master/validation.cpp: "Total resources … required by task and its executor"),
// would refuse the task when the offer has no room for both: TASK_ERROR, the pod Failed.
// Nor may a task start it again with the resources it was launched with, of another
// offer. s.mu is held.
func (s *Scheduler) executorEndedLocked(agentID, executorID string) {
	if e, ok := s.executors[agentID]; ok && e.id == executorID {
		delete(s.executors, agentID)
	}
	for i := range s.held {
		o := &s.held[i].offer
		if o.AgentID.Value != agentID {
			continue
		}
		if j := slices.IndexFunc(o.ExecutorIDs, func(id mesos.ExecutorID) bool { return id.Value == executorID }); j >= 0 {
			// A copy: the offer's list may be shared with the batch it came in.
			o.ExecutorIDs = slices.Delete(slices.Clone(o.ExecutorIDs), j, j+1)
		}
	}
}

// executorLister is a Driver that can ask the master for the running executors
// (framework.Connection.GetExecutors).
type executorLister interface {
	GetExecutors(ctx context.Context) ([]framework.MasterExecutor, error)
}

// executorsWait bounds how long a subscription waits for the master to list the running
// executors (learnExecutors), or the tasks it holds (learnEarlierTasks), and how long the
// latter waits for the reconciliation; knownWait how long a subscription's first offer
// round waits for all of it. After it, the executors' resources are read off the offers.
const (
	executorsWait = 5 * time.Second
	knownWait     = 3 * executorsWait
)

// learnExecutors asks the master, after a subscription, for the resources the cluster's
// executors on the agents were launched with: a process that did not launch them (a
// restarted manager, another replica) knows them no other way, and an offer of the
// agent need not show them (another role, reservations). What the master says replaces
// what this process knew. Offer rounds wait until that is known, or cannot be
// (awaitExecutors).
func (s *Scheduler) learnExecutors(ctx context.Context, d Driver) {
	l, ok := d.(executorLister)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, executorsWait)
	defer cancel()
	list, err := l.GetExecutors(ctx)
	if err != nil {
		s.Log.Info("Could not list the running executors; their resources are read off the agents' offers", "error", err.Error())
		return
	}
	fw, id := d.FrameworkID(), podtask.ExecutorID(s.currentCluster())
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range list {
		if e.FrameworkID != fw || e.ExecutorID != id {
			continue
		}
		if s.executors == nil {
			s.executors = map[string]launchedExecutor{}
		}
		s.executors[e.AgentID] = launchedExecutor{id: id, resources: e.Resources}
	}
}

// awaitExecutors waits, for at most knownWait, until the running executors of the
// current subscription are known (learnExecutors), and the tasks of pods gone recorded
// (learnEarlierTasks).
func (s *Scheduler) awaitExecutors(ctx context.Context) {
	s.mu.Lock()
	done := s.executorsKnown
	s.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done: // the common case, every round but a subscription's first: no timer
		return
	default:
	}
	t := time.NewTimer(knownWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	}
}

// runningExecutor is placement's Input.RunningExecutor for the executor executorID: the
// resources it was launched with on an agent, nil when this process did not launch it
// there (placement then reads them off the agent's offer).
func (s *Scheduler) runningExecutor(executorID string) func(agentID string) []mesos.Resource {
	return func(agentID string) []mesos.Resource {
		s.mu.Lock()
		defer s.mu.Unlock()
		if e, ok := s.executors[agentID]; ok && e.id == executorID {
			return e.resources
		}
		return nil
	}
}

// cloneResources copies resources deeply: a launch's TaskInfo is not kept (it points
// into the pod it was built from). A resource that cannot be copied is left out, which
// leaves the agent's executor to be read off its offers.
func cloneResources(rs []mesos.Resource) []mesos.Resource {
	out := make([]mesos.Resource, len(rs))
	for i := range rs {
		b, err := rs[i].Marshal()
		if err != nil || out[i].Unmarshal(b) != nil {
			return nil
		}
	}
	return out
}
