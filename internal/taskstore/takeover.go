package taskstore

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// CRDName is the MesosTask CRD's name, which an install with the MesosTasks in memory
// leaves out.
const CRDName = "mesostasks.mesos.k8sm.io"

// Takeover moves the MesosTasks an earlier install kept in the API server (the MesosTask
// CRD) into a Store held in memory, when the manager runs with the MesosTasks in memory
// where the CRD is still installed (an install switched to config/tasks-in-memory with
// `kubectl apply`, which removes nothing). The leader, before its Store is synced, reads
// them all and holds each as it was (Store.Import): a task's history, and the MesosTask
// of a pod gone whose task is still to be killed, its finalizer kept, are not lost. Then,
// not holding anything up, it takes each object's finalizer off, which nothing else
// would do any more, and deletes the CRD (the served MesosTasks take its name, and
// `kubectl get mesostasks` would read the CRD's while it is there).
//
// Each leader does it while the CRD is there; one that cannot delete it (RBAC: the
// install grants the delete of that CRD alone) says so in its log, and a person deletes
// it. Without the CRD it reads nothing.
type Takeover struct {
	// Reader reads MesosTasks from the API server, past any cache.
	Reader client.Reader
	// Client writes them there, and deletes the CRD.
	Client client.Client
	Log    logr.Logger
}

// takeoverListWait bounds how long a leader tries to read the CRD's MesosTasks before it
// leads without them (each is made again from its pod and Mesos, as after any restart).
const takeoverListWait = 30 * time.Second

// load reads the CRD's MesosTasks into s, and returns them; ok says whether there were
// any to take over (the CRD is there).
func (t *Takeover) load(ctx context.Context, s *Store) (items []mesosv1alpha1.MesosTask, ok bool) {
	var list mesosv1alpha1.MesosTaskList
	var listErr error
	_ = wait.PollUntilContextTimeout(ctx, time.Second, takeoverListWait, true, func(ctx context.Context) (bool, error) {
		listErr = t.Reader.List(ctx, &list)
		// Refused, it is refused again: not worth holding the leader up for.
		return listErr == nil || CRDAbsent(listErr) || apierrors.IsForbidden(listErr), nil
	})
	switch {
	case listErr != nil && CRDAbsent(listErr):
		return nil, false
	case listErr != nil:
		t.Log.Error(listErr, "Could not read the MesosTasks of the MesosTask CRD; each is made again from its pod and Mesos, and the next leader tries again")
		return nil, false
	}
	n := s.Import(list.Items)
	t.Log.Info("Took over the MesosTasks of the MesosTask CRD, to hold them in memory", "mesostasks", len(list.Items), "held", n)
	return list.Items, true
}

// CRDAbsent says whether an error of a MesosTask read from the API server means that it
// serves no MesosTasks: no CRD (an install with the MesosTasks in memory, or one whose
// leader took them over).
func CRDAbsent(err error) bool {
	return meta.IsNoMatchError(err) || apierrors.IsNotFound(err)
}

// release takes the finalizers off the CRD's objects, items, and deletes the CRD: it goes
// once its objects have.
func (t *Takeover) release(ctx context.Context, items []mesosv1alpha1.MesosTask) {
	released := 0
	for i := range items {
		mt := &items[i]
		if len(mt.Finalizers) == 0 {
			continue
		}
		// With the version read: nothing else writes them any more, and one changed
		// meanwhile is taken over by the next leader.
		mt.Finalizers = nil
		if err := t.Client.Update(ctx, mt); client.IgnoreNotFound(err) != nil {
			if ctx.Err() == nil {
				t.Log.Info("Could not take the finalizer off a MesosTask of the CRD; the next leader takes them over again",
					"mesostask", client.ObjectKeyFromObject(mt).String(), "error", err.Error())
			}
			return
		}
		released++
	}
	// Unstructured: the API server answers the delete with the CRD (it has a finalizer
	// of its own), which the metadata client cannot decode (it failed the delete it had
	// made).
	crd := &unstructured.Unstructured{}
	crd.SetAPIVersion("apiextensions.k8s.io/v1")
	crd.SetKind("CustomResourceDefinition")
	crd.SetName(CRDName)
	if err := t.Client.Delete(ctx, crd); client.IgnoreNotFound(err) != nil {
		t.Log.Info("Could not delete the MesosTask CRD, which the MesosTasks held in memory replace: delete it (kubectl delete crd "+CRDName+")",
			"error", err.Error(), "finalizersTakenOff", released)
		return
	}
	t.Log.Info("Deleted the MesosTask CRD, its objects held in memory", "finalizersTakenOff", released)
}

// Import holds MesosTasks read from the API server as they were (UID, creation and
// deletion, generation, finalizers, status), each at a revision of the Store's own, and
// says how many it holds. A name the Store holds already is left as it is.
func (s *Store) Import(items []mesosv1alpha1.MesosTask) int {
	n := 0
	for i := range items {
		mt := &items[i]
		var out mesosv1alpha1.MesosTask
		err := s.change(keyOf(mt), &out, func(held *mesosv1alpha1.MesosTask, rv string, _ metav1.Time) (*mesosv1alpha1.MesosTask, bool, error) {
			if held != nil {
				return nil, false, nil
			}
			next := mt.DeepCopy()
			next.ResourceVersion = rv
			next.ManagedFields = nil
			return next, false, nil
		})
		if err == nil && out.UID == mt.UID {
			n++
		}
	}
	return n
}
