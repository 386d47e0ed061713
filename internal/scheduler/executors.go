package scheduler

import (
	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/k8sm/k8sm/internal/placement"
)

// launchedExecutor is an executor this process launched on an agent: its id and the
// resources of its ExecutorInfo.
type launchedExecutor struct {
	id        string
	resources []mesos.Resource
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
		s.executors[agent] = launchedExecutor{id: e.ExecutorID.Value, resources: cloneResources(e.Resources)}
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
