package controllers

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// A deleted MesosTask whose task may run is kept until Mesos says the task ended; once
// Mesos removed the framework, it killed the task and will say nothing of it, and no KILL
// can be sent: the MesosTask lets go, as it does once its cluster is gone, so that
// neither it nor its namespace stays Terminating. Another refusal keeps it: the
// framework and its task are there, and it waits to kill the task.
func TestADeletedTaskOfARemovedFrameworkLetsGo(t *testing.T) {
	refused := readyCluster()
	refused.Status.Conditions[0] = metav1.Condition{Type: mesosv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: ReasonFrameworkTakenOver}
	for _, tc := range []struct {
		name    string
		cluster *mesosv1alpha1.MesosCluster
		phase   mesosv1alpha1.TaskPhase
		gone    bool
	}{
		{"running, its framework removed", removedCluster(), mesosv1alpha1.TaskPhaseRunning, true},
		{"running, its framework taken over", refused, mesosv1alpha1.TaskPhaseRunning, false},
		{"running, subscribed", readyCluster(), mesosv1alpha1.TaskPhaseRunning, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mt := earlierTask(tc.phase)
			now := metav1.Now()
			mt.DeletionTimestamp = &now
			c := podAPI(t, interceptor.Funcs{}, mt, tc.cluster)
			r := &MesosTaskReconciler{Client: c, Registry: scheduler.NewRegistry()}
			req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(mt)}
			if _, err := r.Reconcile(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			err := c.Get(context.Background(), req.NamespacedName, &mesosv1alpha1.MesosTask{})
			if gone := apierrors.IsNotFound(err); gone != tc.gone {
				t.Errorf("MesosTask gone = %v (%v), want %v", gone, err, tc.gone)
			}
		})
	}
}
