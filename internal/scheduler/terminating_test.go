package scheduler

import (
	"context"
	"fmt"
	"slices"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/testapi"
)

// refusedCreates refuses every MesosTask create with err, as the API server does in a
// namespace being deleted, and logs pod writes (testapi.PodWrites) and acknowledgements.
func refusedCreates(w *testapi.PodWrites, err error) interceptor.Funcs {
	f := w.Funcs()
	f.Create = func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
		if _, ok := o.(*mesosv1alpha1.MesosTask); ok {
			return err
		}
		return c.Create(ctx, o, opts...)
	}
	return f
}

// forbidden is the NamespaceLifecycle admission plugin's refusal of a MesosTask create,
// with its NamespaceTerminating cause (withCause) or without.
func forbidden(withCause bool) error {
	err := apierrors.NewForbidden(schema.GroupResource{Group: mesosv1alpha1.GroupVersion.Group, Resource: "mesostasks"}, "p",
		fmt.Errorf("unable to create new content in namespace ns because it is being terminated"))
	if withCause {
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type: corev1.NamespaceTerminatingCause, Message: "namespace ns is being terminated", Field: "metadata.namespace"})
	}
	return err
}

// A bound pod whose task has not reported yet has no MesosTask, and while its namespace
// is being deleted none can be created. Its task's updates go to the pod alone, and are
// acknowledged once that is written: a deleted pod gets its terminal phase and goes
// (else the namespace would never go), and a task that still runs is killed.
func TestTheUpdatesOfATaskInANamespaceBeingDeletedGoToItsPod(t *testing.T) {
	ns := func(phase corev1.NamespacePhase) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}, Status: corev1.NamespaceStatus{Phase: phase}}
	}
	for _, tc := range []namespaceCase{
		{name: "killed after the pod's deletion", refusal: forbidden(true), deleted: true, states: []mesos.TaskState{mesos.TASK_KILLED},
			wantLog: []string{"status Failed", "delete", "ack TASK_KILLED"}, wantPhase: corev1.PodFailed},
		{name: "finished after the pod's deletion", refusal: forbidden(true), deleted: true, states: []mesos.TaskState{mesos.TASK_FINISHED},
			wantLog: []string{"status Succeeded", "delete", "ack TASK_FINISHED"}, wantPhase: corev1.PodSucceeded},
		{name: "running: killed, then removed", refusal: forbidden(true), deleted: true,
			states:    []mesos.TaskState{mesos.TASK_RUNNING, mesos.TASK_KILLED},
			wantLog:   []string{"status Running", "ack TASK_RUNNING", "status Failed", "delete", "ack TASK_KILLED"},
			wantKills: []string{"k8sm.u1"}, wantPhase: corev1.PodFailed},
		{name: "running, the pod not deleted yet: killed", refusal: forbidden(true), states: []mesos.TaskState{mesos.TASK_RUNNING},
			wantLog: []string{"status Running", "ack TASK_RUNNING"}, wantKills: []string{"k8sm.u1"}, wantPhase: corev1.PodRunning},
		{name: "never run: removed, not launched again", refusal: forbidden(true), deleted: true, states: []mesos.TaskState{mesos.TASK_DROPPED},
			wantLog: []string{"status Failed", "delete", "ack TASK_DROPPED"}, wantPhase: corev1.PodFailed},
		{name: "never run, the pod not deleted yet: not launched again", refusal: forbidden(true), states: []mesos.TaskState{mesos.TASK_DROPPED},
			wantLog: []string{"ack TASK_DROPPED"}, wantPhase: corev1.PodPending},
		{name: "no cause given: the namespace says it is terminating", refusal: forbidden(false), namespace: ns(corev1.NamespaceTerminating),
			deleted: true, states: []mesos.TaskState{mesos.TASK_KILLED},
			wantLog: []string{"status Failed", "delete", "ack TASK_KILLED"}, wantPhase: corev1.PodFailed},
		{name: "forbidden in a namespace that stays: not acknowledged", refusal: forbidden(false), namespace: ns(corev1.NamespaceActive),
			deleted: true, states: []mesos.TaskState{mesos.TASK_KILLED}, wantPhase: corev1.PodPending},
		{name: "forbidden for another reason: not acknowledged", refusal: apierrors.NewForbidden(schema.GroupResource{Resource: "mesostasks"}, "p",
			fmt.Errorf("RBAC: access denied")), deleted: true, states: []mesos.TaskState{mesos.TASK_KILLED}, wantPhase: corev1.PodPending},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t) })
	}
}

// namespaceCase is a bound pod (being deleted, or not) whose task's updates (states)
// come while its namespace is being deleted: what the pod gets, what is acknowledged and
// killed.
type namespaceCase struct {
	name      string
	refusal   error // of the MesosTask's create
	namespace *corev1.Namespace
	deleted   bool // the pod is being deleted
	states    []mesos.TaskState
	wantLog   []string // pod writes and acknowledgements
	wantKills []string
	wantPhase corev1.PodPhase
}

func (tc namespaceCase) run(t *testing.T) {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1", Finalizers: []string{"test/hold"}},
		Spec: corev1.PodSpec{NodeName: "mesos-c-agent-1", SchedulerName: "mesos"}, Status: corev1.PodStatus{Phase: corev1.PodPending}}
	objs := []client.Object{pod}
	if tc.namespace != nil {
		objs = append(objs, tc.namespace)
	}
	var w testapi.PodWrites
	c := fakeAPIWith(t, refusedCreates(&w, tc.refusal), objs...)
	ctx := context.Background()
	if tc.deleted {
		if err := c.Delete(ctx, pod); err != nil {
			t.Fatal(err)
		}
		w.Reset()
	}
	d := newFakeDriver()
	s, _ := newTestScheduler(c, d)
	key := client.ObjectKeyFromObject(pod)
	s.noteLaunch("k8sm.u1", launchNow("a-1", "agent-1"), &key)
	wk := newWorker(s, -1)

	for i, state := range tc.states {
		wk.handle(ctx, statusUpdate{status: mesos.TaskStatus{TaskID: mesos.TaskID{Value: "k8sm.u1"}, AgentID: &mesos.AgentID{Value: "a-1"},
			State: state.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum(), UUID: []byte(fmt.Sprintf("uuid-%012d", i))},
			ack: func(context.Context) error { w.Add("ack " + state.String()); return nil }})
	}

	if got := w.List(); !slices.Equal(got, tc.wantLog) {
		t.Errorf("pod writes and acknowledgements = %v, want %v", got, tc.wantLog)
	}
	if !slices.Equal(d.kills, tc.wantKills) {
		t.Errorf("kills = %v, want %v", d.kills, tc.wantKills)
	}
	got := &corev1.Pod{}
	if err := c.Get(ctx, key, got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != tc.wantPhase {
		t.Errorf("the pod is %s, want %s", got.Status.Phase, tc.wantPhase)
	}
	if s.Pending("k8sm.u1") {
		t.Error("the task is queued to launch again in a namespace being deleted")
	}
}
