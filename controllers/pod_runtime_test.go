package controllers

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/podtask"
)

// A pod that needs what its cluster's runtime cannot provide (a volume claim or a
// ConfigMap volume on the process runtime, a Secret's value on the kubelet runtime) is
// not queued, but waits Unschedulable, saying what: launched, the executor would refuse
// it, and its Deployment or StatefulSet would make it again at once, failed, in a loop.
// What the runtime provides is queued; a pod queued before the cluster's runtime changed
// leaves the queue.
func TestAPodItsRuntimeCannotRunWaitsUnschedulable(t *testing.T) {
	claim := corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-web-0"}}}
	config := corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}
	info := corev1.Volume{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
		Items: []corev1.DownwardAPIVolumeFile{{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}}
	secretEnv := corev1.EnvVar{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}}
	registry := []corev1.LocalObjectReference{{Name: "default-dockercfg-x7k2p"}}
	pullRefused := "the cluster's kubelet runtime (spec.executor.runtime) cannot run the pod: spec.imagePullSecrets: a static pod cannot refer to Secrets; give the agents' container runtime the registry credentials"
	for _, tc := range []struct {
		name    string
		runtime mesosv1alpha1.ExecutorRuntime
		volumes []corev1.Volume
		env     []corev1.EnvVar
		// pull are the pod's imagePullSecrets, saPull its ServiceAccount's (nil: no
		// ServiceAccount).
		pull, saPull []corev1.LocalObjectReference
		want         string // PodScheduled's message; "" when queued
	}{
		{name: "a claim, process runtime", volumes: []corev1.Volume{claim},
			want: "the cluster's process runtime (spec.executor.runtime) cannot run the pod: spec.volumes[0] (data): it cannot provide persistentVolumeClaim volumes"},
		{name: "a ConfigMap volume, process runtime", volumes: []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}, config},
			want: "the cluster's process runtime (spec.executor.runtime) cannot run the pod: spec.volumes[1] (cfg): it cannot provide configMap volumes"},
		{name: "a Secret's value, kubelet runtime", runtime: mesosv1alpha1.RuntimeKubelet, volumes: []corev1.Volume{info}, env: []corev1.EnvVar{secretEnv},
			want: "the cluster's kubelet runtime (spec.executor.runtime) cannot run the pod: spec.containers[0].env[0] (PASSWORD): a static pod cannot refer to ConfigMaps or Secrets"},
		{name: "a downward API volume, kubelet runtime", runtime: mesosv1alpha1.RuntimeKubelet, volumes: []corev1.Volume{info}},
		// The ServiceAccount admission gives a pod its ServiceAccount's imagePullSecrets
		// (OpenShift gives each one): not the pod's ask, and not held against it.
		{name: "its ServiceAccount's imagePullSecrets, kubelet runtime", runtime: mesosv1alpha1.RuntimeKubelet, pull: registry, saPull: registry},
		{name: "its own imagePullSecrets, kubelet runtime", runtime: mesosv1alpha1.RuntimeKubelet,
			pull: []corev1.LocalObjectReference{{Name: "mine"}}, saPull: registry, want: pullRefused},
		{name: "imagePullSecrets, no ServiceAccount, kubelet runtime", runtime: mesosv1alpha1.RuntimeKubelet, pull: registry, want: pullRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mc := readyCluster()
			mc.Spec.Executor.Runtime = tc.runtime
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0", UID: "u1"},
				Spec: corev1.PodSpec{SchedulerName: "mesos", Volumes: tc.volumes, ImagePullSecrets: tc.pull,
					Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"}, Env: tc.env}}},
				Status: corev1.PodStatus{Phase: corev1.PodPending}}
			objs := []client.Object{pod, mc, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}}}
			if tc.saPull != nil {
				objs = append(objs, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "default"}, ImagePullSecrets: tc.saPull})
			}
			c := podAPI(t, interceptor.Funcs{}, objs...)
			reg, s := withScheduler(c, mc)
			// Queued before: the cluster's runtime changed since.
			mt, err := podtask.NewMesosTask(pod, mc, "")
			if err != nil {
				t.Fatal(err)
			}
			s.Enqueue(context.Background(), mt, pod)
			rec := events.NewFakeRecorder(10)
			r := &PodReconciler{Client: c, APIReader: c, Registry: reg, Recorder: rec}
			if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pod)}); err != nil {
				t.Fatal(err)
			}

			if queued := s.Pending(podtask.TaskIDFor(pod)); queued != (tc.want == "") {
				t.Fatalf("queued = %v, want %v", queued, tc.want == "")
			}
			got := &corev1.Pod{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), got); err != nil {
				t.Fatal(err)
			}
			cond := podCondition(got, corev1.PodScheduled)
			if tc.want == "" {
				if cond != nil {
					t.Fatalf("a pod its runtime can run was told %+v", cond)
				}
				return
			}
			if got.Status.Phase != corev1.PodPending || cond == nil || cond.Status != corev1.ConditionFalse ||
				cond.Reason != corev1.PodReasonUnschedulable || cond.Message != tc.want {
				t.Fatalf("phase %s, PodScheduled = %+v; want Pending, False/Unschedulable: %s", got.Status.Phase, cond, tc.want)
			}
			if len(rec.Events) != 1 {
				t.Errorf("%d events, want one FailedScheduling", len(rec.Events))
			}
		})
	}
}

// A pod queued before its cluster came to refuse what it asks for (here a hostPath
// volume on the kubelet runtime under rootPods: Refuse) fails, and leaves the queue:
// left there, it would hold offers and count as pending until a launch refused it.
func TestAPodItsClusterNowRefusesLeavesTheQueue(t *testing.T) {
	mc := readyCluster()
	mc.Spec.Executor.Runtime = mesosv1alpha1.RuntimeKubelet
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0", UID: "u1"},
		Spec: corev1.PodSpec{SchedulerName: "mesos",
			Volumes:    []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}},
			Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"}}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending}}
	c := podAPI(t, interceptor.Funcs{}, pod, mc, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}})
	reg, s := withScheduler(c, mc)
	mt, err := podtask.NewMesosTask(pod, mc, "")
	if err != nil {
		t.Fatal(err)
	}
	s.Enqueue(context.Background(), mt, pod)
	r := &PodReconciler{Client: c, Registry: reg, Recorder: events.NewFakeRecorder(10)}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(pod)}); err != nil {
		t.Fatal(err)
	}
	if s.Pending(podtask.TaskIDFor(pod)) {
		t.Error("the refused pod is still queued")
	}
	got := &corev1.Pod{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(pod), got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != corev1.PodFailed || got.Status.Reason != podtask.ReasonInvalidPod {
		t.Fatalf("the pod is %s (%s: %s), want Failed, %s", got.Status.Phase, got.Status.Reason, got.Status.Message, podtask.ReasonInvalidPod)
	}
}
