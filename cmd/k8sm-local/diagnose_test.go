package main

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

func TestPodDiagnosis(t *testing.T) {
	if got := podDiagnosis(&corev1.Pod{}); got != nil {
		t.Errorf("podDiagnosis of a pod never read = %q, want none", got)
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "hello-web"},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
				{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", Message: "containers with unready status: [web]"},
			},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name:         "web",
				RestartCount: 2,
				State:        corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 1, Reason: "Error", Message: "httpd: bind: Address in use"}},
			}},
		},
	}
	want := []string{
		"pod default/hello-web: Running",
		"  condition Ready=False: ContainersNotReady: containers with unready status: [web]",
		"  container web: waiting: CrashLoopBackOff (restarts: 2)",
		"  container web, last instance: terminated with exit code 1: Error: httpd: bind: Address in use",
	}
	if got := podDiagnosis(p); !slices.Equal(got, want) {
		t.Errorf("podDiagnosis =\n%q\nwant\n%q", got, want)
	}
}

func TestClusterDiagnosis(t *testing.T) {
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "local"}}
	mc.Status.Conditions = []metav1.Condition{
		{Type: mesosv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "AsExpected"},
		{Type: mesosv1alpha1.ConditionDegraded, Status: metav1.ConditionFalse, Reason: "AsExpected"},
	}
	if got := clusterDiagnosis(mc); got != nil {
		t.Errorf("clusterDiagnosis of a healthy cluster = %q, want none", got)
	}
	mc.Status.Conditions[1] = metav1.Condition{Type: mesosv1alpha1.ConditionDegraded, Status: metav1.ConditionTrue,
		Reason: "KubeletAPIPortTaken", Message: "the port is taken"}
	want := []string{`MesosCluster "local" is Degraded: KubeletAPIPortTaken: the port is taken`}
	if got := clusterDiagnosis(mc); !slices.Equal(got, want) {
		t.Errorf("clusterDiagnosis = %q, want %q", got, want)
	}
}
