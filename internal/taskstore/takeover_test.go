package taskstore

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/testenv"
)

// A manager with the MesosTasks in memory, started where an earlier install kept them in
// the MesosTask CRD, holds each as it was (a running task's status; the MesosTask of a
// pod gone, deleted and kept by its finalizer until its task is killed), takes the
// objects' finalizers off and deletes the CRD. Without the CRD it holds nothing, and is
// synced at once.
func TestALeaderTakesOverTheMesosTasksOfTheCRD(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver and etcd (envtest); not in -short")
	}
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	sch := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(sch)
	_ = mesosv1alpha1.AddToScheme(sch)
	c, err := client.New(env.Config, client.Options{Scheme: sch})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}}); err != nil {
		t.Fatal(err)
	}
	task := func(name string) *mesosv1alpha1.MesosTask {
		started := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
		return &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Finalizers: []string{"mesos.k8sm.io/task"}},
			Spec: mesosv1alpha1.MesosTaskSpec{ClusterRef: "c", PodUID: "uid-" + name, TaskID: "k8sm.uid-" + name},
			Status: mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, MesosState: "TASK_RUNNING", AgentID: "a-1",
				Hostname: "agent-1", LaunchedAt: &started, StartedAt: &started}}
	}
	running, gone := task("web-0"), task("web-1")
	for _, mt := range []*mesosv1alpha1.MesosTask{running, gone} {
		if err := c.Create(ctx, mt); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(gone), gone); err != nil || gone.DeletionTimestamp.IsZero() {
		t.Fatalf("web-1 is not kept deleted by its finalizer: %v", err)
	}

	s := New(nil)
	// What the leader logs: an error of a step that did what it was to do misleads.
	var logged sync.Map
	log := funcr.New(func(_, args string) { logged.Store(args, true) }, funcr.Options{})
	go func() {
		_ = (&Leading{Store: s, Takeover: &Takeover{Reader: c, Client: c, Log: log}}).Start(ctx)
	}()
	if err := s.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, want := range []*mesosv1alpha1.MesosTask{running, gone} {
		got := s.Get(client.ObjectKeyFromObject(want))
		switch {
		case got == nil:
			t.Errorf("%s is not held", want.Name)
		case got.UID != want.UID || !equality.Semantic.DeepEqual(got.Status, want.Status) || !equality.Semantic.DeepEqual(got.Spec, want.Spec):
			t.Errorf("%s is held as %+v, want it as it was: %+v", want.Name, got, want)
		case !got.DeletionTimestamp.Equal(want.DeletionTimestamp) || len(got.Finalizers) != 1:
			t.Errorf("%s is held deleted at %v with finalizers %v, want %v and its finalizer", want.Name, got.DeletionTimestamp, got.Finalizers, want.DeletionTimestamp)
		}
	}
	crd := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"}}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKey{Name: CRDName}, crd)
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		t.Fatalf("the MesosTask CRD is still there (finalizers %v, deleted at %v)", crd.Finalizers, crd.DeletionTimestamp)
	}
	logged.Range(func(k, _ any) bool {
		if strings.Contains(k.(string), "Could not") {
			t.Errorf("the leader logged %s", k)
		}
		return true
	})

	// Without the CRD: nothing to take over.
	next := New(nil)
	go func() {
		_ = (&Leading{Store: next, Takeover: &Takeover{Reader: c, Client: c, Log: logr.Discard()}}).Start(ctx)
	}()
	waitCtx, done := context.WithTimeout(ctx, 20*time.Second)
	defer done()
	if err := next.WaitForSync(waitCtx); err != nil {
		t.Fatal("a Store is not synced without the MesosTask CRD")
	}
	if n := len(next.Select(func(*mesosv1alpha1.MesosTask) bool { return true })); n != 0 {
		t.Errorf("%d MesosTasks held without the CRD", n)
	}
}
