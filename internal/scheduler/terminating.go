package scheduler

import (
	"context"
	"errors"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
)

// The tasks of a namespace being deleted. While a namespace terminates, the API server
// takes no new object in it (the NamespaceLifecycle admission plugin refuses every
// create, Forbidden), and a bound pod whose task has not reported yet has no MesosTask
// (it is written with the task's first update): the update could never be written, its
// pod never removed, and the namespace never gone. Such an update is carried on without
// its MesosTask: the pod, which can still be written and deleted, gets what it says.

// errNoDriver: a task is to be killed, and no driver is there to send the KILL.
var errNoDriver = errors.New("no Mesos driver to kill the task")

// namespaceGoing says whether a create in a namespace was refused because the namespace
// is being deleted: Forbidden, with the NamespaceTerminating cause the admission plugin
// gives, or, without it, from a namespace the API server says is terminating.
func (s *Scheduler) namespaceGoing(ctx context.Context, namespace string, err error) bool {
	if !apierrors.IsForbidden(err) {
		return false
	}
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return true
	}
	ns := &corev1.Namespace{}
	if s.reader(1).Get(ctx, client.ObjectKey{Name: namespace}, ns) != nil {
		return false
	}
	return ns.Status.Phase == corev1.NamespaceTerminating || !ns.DeletionTimestamp.IsZero()
}

// withoutTask carries on with an update whose MesosTask (mt, with the update applied)
// cannot be created, for its namespace is being deleted. The pod gets what the update
// says: a deleted pod whose task ended its final status, and it goes (mirrorToPod); one
// whose task Mesos never ran goes too, and is not launched again. A task that has not
// ended is killed, since its namespace goes with everything in it; its launch stays
// noted, so that the update of its end finds its pod as this one did. The update is
// acknowledged only once all that is written or sent.
func (s *Scheduler) withoutTask(ctx context.Context, mt *mesosv1alpha1.MesosTask, ts mesos.TaskStatus) error {
	id := ts.TaskID.Value
	s.Log.V(1).Info("The task's namespace is being deleted: its update goes to the pod alone", "task", id,
		"pod", client.ObjectKeyFromObject(mt).String(), "state", ts.GetState().String())
	if mt.Status.Phase == mesosv1alpha1.TaskPhasePending {
		if err := s.notRun(ctx, mt, false); err != nil {
			return err
		}
		s.forgetLaunch(id)
		return nil
	}
	if err := s.mirrorToPod(ctx, mt, ts); err != nil {
		return err
	}
	if podtask.IsTerminalPhase(mt.Status.Phase) {
		s.forgetLaunch(id)
		return nil
	}
	s.Log.Info("Killing a task whose namespace is being deleted", "task", id, "namespace", mt.Namespace)
	return s.killTask(ctx, ts)
}
