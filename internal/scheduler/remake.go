package scheduler

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sm/k8sm/internal/podtask"
)

// remakeRecords makes, with TasksInMemory (the MesosTasks in this process's memory
// alone, so that a new leader holds none), the MesosTask of each of the bound pods
// without one (remakeRecord), before Mesos is asked about their tasks. One after the
// other: made by four at once, 10,000 took as long (0.8-1.1 s against 0.7-1.2 s at
// 1,000 x 10,000), the Store's lock and the reconcilers' first passes sharing the CPU.
func (s *Scheduler) remakeRecords(ctx context.Context, pods []*corev1.Pod) {
	start, remade := time.Now(), 0
	for _, pod := range pods {
		if s.remakeRecord(ctx, pod) {
			remade++
		}
	}
	if remade > 0 {
		s.Log.Info("Made the records of running tasks again from their pods; Mesos is asked to confirm them",
			"tasks", remade, "took", time.Since(start).Round(time.Millisecond).String())
	}
}

// remakeRecord makes the MesosTask of a bound pod that has none and whose status shows
// its task ran (podtask.Remade), and says whether it did: Mesos's answer then confirms
// the record, and a new leader writes nothing for the tasks that run on as they did. A
// record Mesos's answer makes (the pod shows nothing reported), or that another write
// made first, is left to it.
func (s *Scheduler) remakeRecord(ctx context.Context, pod *corev1.Pod) bool {
	id := podtask.TaskIDFor(pod)
	if _, launched := s.launchOf(id); launched {
		return false // this process's launch: its own record of it is written on its update
	}
	agent, host := s.agentOfNode(ctx, pod.Spec.NodeName)
	mt, ok := podtask.Remade(pod, s.currentCluster(), agent, host, metav1.Now())
	if !ok {
		return false
	}
	if err := s.saveTask(ctx, mt); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			s.Log.Info("Could not make a task's record again from its pod; Mesos's answer makes it", "task", id, "error", err.Error())
		}
		return false
	}
	return true
}
