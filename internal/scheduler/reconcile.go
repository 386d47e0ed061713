package scheduler

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/podtask"
)

// launchInFlight is how long after its launch a task is left out of reconciliation.
const launchInFlight = 10 * time.Second

// reconcileTasks asks Mesos for the state of every launched, non-terminal task, then
// for all of the framework's tasks; the answers come as updates.
func (s *Scheduler) reconcileTasks(ctx context.Context, d Driver) {
	var list mesosv1alpha1.MesosTaskList
	if err := s.Client.List(ctx, &list, client.MatchingFields{indexer.ClusterRef: s.clusterName()}); err != nil {
		s.Log.Error(err, "Listing tasks to reconcile")
		return
	}
	explicit := map[string]string{}
	var skipped []string
	for i := range list.Items {
		mt := &list.Items[i]
		if l, ok := s.launchOf(mt.Spec.TaskID); ok && time.Since(l.At.Time) < launchInFlight {
			// Just launched: the question could overtake the launch, and Mesos would say
			// it does not know the task. Asked again in a moment.
			skipped = append(skipped, mt.Spec.TaskID)
			continue
		}
		if agent, ask := s.toReconcile(ctx, mt); ask {
			explicit[mt.Spec.TaskID] = agent
		}
	}
	if len(explicit) > 0 {
		if err := d.Reconcile(ctx, explicit); err != nil {
			s.Log.Info("Explicit reconciliation failed; it is retried on the next subscription", "error", err.Error())
			return
		}
	}
	if err := d.Reconcile(ctx, nil); err != nil {
		s.Log.Info("Implicit reconciliation failed", "error", err.Error())
		return
	}
	d.SetReconciled()
	if len(skipped) > 0 {
		s.askLater(ctx, d, skipped)
	}
}

// askLater asks Mesos, launchInFlight from now, about those of the tasks that had no
// update written since their launch. It asks about those tasks only: a full
// reconciliation each time would, under a steady stream of launches, ask about every
// task every few seconds.
func (s *Scheduler) askLater(ctx context.Context, d Driver, taskIDs []string) {
	time.AfterFunc(launchInFlight, func() {
		if ctx.Err() != nil || !d.Subscribed() {
			return // the reconciliation after the next subscription asks
		}
		ask := map[string]string{}
		for _, id := range taskIDs {
			mt, err := s.taskByID(ctx, id)
			if err != nil || mt == nil || mt.Status.MesosState != "" {
				continue // gone, or an update was written
			}
			if agent, ok := s.toReconcile(ctx, mt); ok {
				ask[id] = agent
			}
		}
		if len(ask) == 0 {
			return
		}
		if err := d.Reconcile(ctx, ask); err != nil {
			s.Log.Info("Could not ask Mesos about tasks without a written update; the next reconciliation does", "tasks", len(ask), "error", err.Error())
		}
	})
}

// toReconcile says whether to ask Mesos about a MesosTask's task, and with which agent
// id: a launched task that has not ended, or one whose pod is bound while the MesosTask
// says nothing yet (launched by a manager that stopped, or not at all: Mesos says which,
// and a task it never saw goes back to the queue).
func (s *Scheduler) toReconcile(ctx context.Context, mt *mesosv1alpha1.MesosTask) (agentID string, ask bool) {
	if podtask.Launched(mt.Status.Phase) {
		return mt.Status.AgentID, !podtask.IsTerminalPhase(mt.Status.Phase)
	}
	pod := &corev1.Pod{}
	if mt.Status.Phase != "" || s.Client.Get(ctx, client.ObjectKeyFromObject(mt), pod) != nil || !podtask.BoundUnrecorded(mt, pod) {
		return "", false
	}
	agentID, _ = s.agentOfNode(ctx, pod.Spec.NodeName)
	return agentID, true
}

// agentOfNode is the Mesos agent id and hostname of an agent's Node, empty where not known.
func (s *Scheduler) agentOfNode(ctx context.Context, node string) (agentID, hostname string) {
	n := &corev1.Node{}
	if err := s.Client.Get(ctx, client.ObjectKey{Name: node}, n); err != nil {
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

// taskByID is the MesosTask of a Mesos task id, or nil if none has it.
func (s *Scheduler) taskByID(ctx context.Context, taskID string) (*mesosv1alpha1.MesosTask, error) {
	var list mesosv1alpha1.MesosTaskList
	if err := s.Client.List(ctx, &list, client.MatchingFields{indexer.TaskID: taskID}); err != nil || len(list.Items) == 0 {
		return nil, err
	}
	return &list.Items[0], nil
}
