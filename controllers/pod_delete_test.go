package controllers

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/scheduler"
	"github.com/k8sm/k8sm/internal/testapi"
)

// A deleted pod whose task never ran, or ended before, is removed at once, as a kubelet
// removes it: with its terminal phase written first (Failed for a task that never ran,
// the phase its task ended with otherwise), so that a Job counts it and lets go of its
// finalizer. One whose task an update of its agent ended just now is left to the
// scheduler a few seconds, which removes it with that update's exit codes.
func TestADeletedPodWhoseTaskIsOverIsRemovedWithATerminalPhase(t *testing.T) {
	for _, tc := range []struct {
		name  string
		node  string                  // the pod's
		task  mesosv1alpha1.TaskPhase // its MesosTask's, none when empty
		phase corev1.PodPhase         // the pod's when it is deleted
		want  corev1.PodPhase         // written before the delete
		log   []string
		// source and updated (ago) are those of the MesosTask's last update.
		source  string
		updated time.Duration
	}{
		{name: "queued, never launched", phase: corev1.PodPending, want: corev1.PodFailed, log: []string{"status Failed", "delete"}},
		{name: "sent back by Mesos", node: "mesos-c-agent-1", task: mesosv1alpha1.TaskPhasePending, phase: corev1.PodPending,
			want: corev1.PodFailed, log: []string{"status Failed", "delete"}},
		{name: "its task finished, its pod not told yet", node: "mesos-c-agent-1", task: mesosv1alpha1.TaskPhaseFinished, phase: corev1.PodRunning,
			want: corev1.PodSucceeded, log: []string{"status Succeeded", "delete"}},
		{name: "ended already", node: "mesos-c-agent-1", task: mesosv1alpha1.TaskPhaseKilled, phase: corev1.PodFailed,
			want: corev1.PodFailed, log: []string{"delete"}},
		{name: "killed by its executor just now", node: "mesos-c-agent-1", task: mesosv1alpha1.TaskPhaseKilled, phase: corev1.PodRunning,
			want: corev1.PodRunning, source: "SOURCE_EXECUTOR", updated: time.Second},
		{name: "killed by its executor a while ago", node: "mesos-c-agent-1", task: mesosv1alpha1.TaskPhaseKilled, phase: corev1.PodRunning,
			want: corev1.PodFailed, log: []string{"status Failed", "delete"}, source: "SOURCE_EXECUTOR", updated: time.Minute},
		{name: "killed by the master just now", node: "mesos-c-agent-1", task: mesosv1alpha1.TaskPhaseKilled, phase: corev1.PodRunning,
			want: corev1.PodFailed, log: []string{"status Failed", "delete"}, source: "SOURCE_MASTER", updated: time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := metav1.Now()
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1", DeletionTimestamp: &now,
				Finalizers: []string{"batch.kubernetes.io/job-tracking"}},
				Spec:   corev1.PodSpec{SchedulerName: "mesos", NodeName: tc.node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
				Status: corev1.PodStatus{Phase: tc.phase}}
			objs := []client.Object{pod, readyCluster(),
				&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "mesos-c-agent-1", Labels: map[string]string{agentnode.LabelCluster: "c"}}}}
			if tc.task != "" {
				mt := &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"},
					Spec:   mesosv1alpha1.MesosTaskSpec{ClusterRef: "c", PodUID: "u1", TaskID: "k8sm.u1"},
					Status: mesosv1alpha1.MesosTaskStatus{Phase: tc.task, MesosState: "TASK_" + string(tc.task), Source: tc.source}}
				if tc.updated > 0 {
					mt.Status.LastUpdateTime = &metav1.Time{Time: time.Now().Add(-tc.updated)}
				}
				objs = append(objs, mt)
			}
			var log testapi.PodWrites
			c := podAPI(t, log.Funcs(), objs...)
			r := &PodReconciler{Client: c, Registry: scheduler.NewRegistry()}

			res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pod)})
			if err != nil {
				t.Fatal(err)
			}
			if tc.log == nil && (res.RequeueAfter <= 0 || res.RequeueAfter > deletedEndSettle) {
				t.Errorf("a pod left to the scheduler is looked at again after %s, want within %s", res.RequeueAfter, deletedEndSettle)
			}

			if got := log.List(); !slices.Equal(got, tc.log) {
				t.Errorf("pod writes = %v, want %v", got, tc.log)
			}
			got := &corev1.Pod{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), got); err != nil {
				t.Fatal(err)
			}
			if got.Status.Phase != tc.want {
				t.Errorf("the pod removed is %s, want %s", got.Status.Phase, tc.want)
			}
		})
	}
}

// readyCluster is MesosCluster "c" of schedulerName mesos, taking pods.
func readyCluster() *mesosv1alpha1.MesosCluster {
	return &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: mesosv1alpha1.MesosClusterSpec{SchedulerName: "mesos"},
		Status: mesosv1alpha1.MesosClusterStatus{Conditions: []metav1.Condition{{Type: mesosv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Subscribed"}}}}
}

// podAPI is a fake API server with the indexes the Pod reconciler reads.
func podAPI(t *testing.T, funcs interceptor.Funcs, objs ...client.Object) client.Client {
	t.Helper()
	// Objects read without a copy are shared, as the cache shares them, and checked
	// unchanged at the test's end.
	return testapi.ShareReads(t, fakePodAPI(funcs, objs...))
}

func fakePodAPI(funcs interceptor.Funcs, objs ...client.Object) client.WithWatch {
	sch := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(sch)
	_ = mesosv1alpha1.AddToScheme(sch)
	return fake.NewClientBuilder().WithScheme(sch).WithObjects(objs...).WithStatusSubresource(&corev1.Pod{}).
		WithIndex(&mesosv1alpha1.MesosCluster{}, indexer.ClusterSchedulerName, func(o client.Object) []string {
			return []string{o.(*mesosv1alpha1.MesosCluster).Spec.SchedulerName}
		}).
		WithIndex(&corev1.Pod{}, indexer.PodSchedulerName, indexer.PodSchedulerNameOf).
		WithInterceptorFuncs(funcs).Build()
}

// A Node named like an agent's (mesos-…) that exists without the mesos.k8sm.io/cluster
// label, and that no MesosCluster made, is a kubelet's: its deleted pods are its
// kubelet's to stop and remove, through their grace period and preStop hooks, and k8sm
// writes nothing to them. Were they failed and removed at once, a StatefulSet would start
// the next pod of the name while its kubelet still ran the last. Once such a Node is gone,
// a pod without a MesosTask is taken for a gone cluster's only when its schedulerName
// could be a MesosCluster's; the pod garbage collector removes the others.
func TestDeletedPodsOfAKubeletsNodeAreLeftAlone(t *testing.T) {
	kubeletsNode := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "mesos-agent-17"}}
	for _, tc := range []struct {
		name      string
		scheduler string
		node      *corev1.Node // the pod's Node, nil when gone
		taskOf    string       // the cluster of the pod's MesosTask, none when empty
		log       []string
	}{
		{name: "the default scheduler's pod on a kubelet's Node", scheduler: corev1.DefaultSchedulerName, node: kubeletsNode},
		{name: "a pod with a gone cluster's MesosTask on a kubelet's Node", scheduler: "mesos", node: kubeletsNode, taskOf: "gone"},
		{name: "the default scheduler's pod, its Node gone", scheduler: corev1.DefaultSchedulerName},
		{name: "a gone cluster's pod, its Node gone", scheduler: "mesos-gone", log: []string{"status Failed", "delete"}},
		{name: "a pod with a gone cluster's MesosTask, its Node gone", scheduler: corev1.DefaultSchedulerName, taskOf: "gone",
			log: []string{"status Failed", "delete"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := metav1.Now()
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0", UID: "u1", DeletionTimestamp: &now,
				Finalizers: []string{"example.com/hold"}},
				Spec:   corev1.PodSpec{SchedulerName: tc.scheduler, NodeName: "mesos-agent-17", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning}}
			objs := []client.Object{pod, readyCluster()}
			if tc.node != nil {
				objs = append(objs, tc.node.DeepCopy())
			}
			if tc.taskOf != "" {
				objs = append(objs, &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0"},
					Spec:   mesosv1alpha1.MesosTaskSpec{ClusterRef: tc.taskOf, PodUID: "u1", TaskID: "k8sm.u1"},
					Status: mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, MesosState: "TASK_RUNNING"}})
			}
			var log testapi.PodWrites
			c := podAPI(t, log.Funcs(), objs...)
			r := &PodReconciler{Client: c, Registry: scheduler.NewRegistry()}

			res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pod)})
			if err != nil {
				t.Fatal(err)
			}
			if got := log.List(); !slices.Equal(got, tc.log) {
				t.Errorf("pod writes = %v, want %v", got, tc.log)
			}
			if tc.log == nil && !res.IsZero() {
				t.Errorf("the pod is looked at again (%+v): nothing here is k8sm's to wait for", res)
			}
		})
	}
}
