package controllers

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// TestCacheSharesRepeatedStrings: two pods and two MesosTasks decoded apart (each with
// strings of its own) come out of the cache's transforms unchanged in value, with their
// repeated strings in one copy and their own (names) left alone.
func TestCacheSharesRepeatedStrings(t *testing.T) {
	own := strings.Clone // a string of its own, as decoding makes
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: own("team-a"), Name: own(name), Labels: map[string]string{own("app"): own("web")}},
			Spec: corev1.PodSpec{SchedulerName: own("mesos"), NodeName: own("mesos-c-agent-1"),
				Containers: []corev1.Container{{Name: own("c"), Image: own("busybox"), Command: []string{own("sleep"), own("3600")},
					Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
						Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}}},
				Tolerations: []corev1.Toleration{{Key: own("node.kubernetes.io/unreachable"), Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}}},
			Status: corev1.PodStatus{Phase: corev1.PodPhase(own("Running")), HostIP: own("10.0.0.7"),
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionStatus(own("True")), Reason: own("TaskRunning")}}},
		}
	}
	task := func(name string) *mesosv1alpha1.MesosTask {
		return &mesosv1alpha1.MesosTask{
			ObjectMeta: metav1.ObjectMeta{Namespace: own("team-a"), Name: own(name), Finalizers: []string{own("mesos.k8sm.io/task")},
				Labels:          map[string]string{own("mesos.k8sm.io/cluster"): own("c")},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: own("v1"), Kind: own("Pod"), Name: own(name)}}},
			Spec: mesosv1alpha1.MesosTaskSpec{ClusterRef: own("c"), TaskID: own("k8sm." + name), ExecutorID: own("k8sm-executor-c")},
			Status: mesosv1alpha1.MesosTaskStatus{MesosState: own("TASK_RUNNING"), AgentID: own("a1-S1"), Hostname: own("agent-1"),
				Conditions: []metav1.Condition{{Type: own("Scheduled"), Status: metav1.ConditionTrue, Reason: own("Launched"), Message: own("Launched on agent agent-1")}}},
		}
	}
	same := func(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }
	sameMap := func(a, b any) bool { return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer() }

	var pods [2]*corev1.Pod
	for i, name := range []string{"p1", "p2"} {
		p := pod(name)
		want, ownName := p.DeepCopy(), p.Name
		o, err := trimPod(p)
		if err != nil {
			t.Fatal(err)
		}
		pods[i] = o.(*corev1.Pod)
		if !equality.Semantic.DeepEqual(pods[i], want) {
			t.Errorf("pod %s changed: %+v, want %+v", name, pods[i], want)
		}
		if !same(pods[i].Name, ownName) {
			t.Errorf("pod %s: its name was replaced", name)
		}
	}
	for what, pair := range map[string][2]string{
		"namespace":   {pods[0].Namespace, pods[1].Namespace},
		"scheduler":   {pods[0].Spec.SchedulerName, pods[1].Spec.SchedulerName},
		"Node":        {pods[0].Spec.NodeName, pods[1].Spec.NodeName},
		"image":       {pods[0].Spec.Containers[0].Image, pods[1].Spec.Containers[0].Image},
		"command":     {pods[0].Spec.Containers[0].Command[0], pods[1].Spec.Containers[0].Command[0]},
		"toleration":  {pods[0].Spec.Tolerations[0].Key, pods[1].Spec.Tolerations[0].Key},
		"phase":       {string(pods[0].Status.Phase), string(pods[1].Status.Phase)},
		"host IP":     {pods[0].Status.HostIP, pods[1].Status.HostIP},
		"condition":   {pods[0].Status.Conditions[0].Reason, pods[1].Status.Conditions[0].Reason},
		"cond status": {string(pods[0].Status.Conditions[0].Status), string(pods[1].Status.Conditions[0].Status)},
	} {
		if !same(pair[0], pair[1]) {
			t.Errorf("pods: the %s %q is not shared", what, pair[0])
		}
	}
	for what, pair := range map[string][2]any{
		"labels":   {pods[0].Labels, pods[1].Labels},
		"requests": {pods[0].Spec.Containers[0].Resources.Requests, pods[1].Spec.Containers[0].Resources.Requests},
		"limits":   {pods[0].Spec.Containers[0].Resources.Limits, pods[1].Spec.Containers[0].Resources.Limits},
	} {
		if !sameMap(pair[0], pair[1]) {
			t.Errorf("pods: the %s %v are not shared", what, pair[0])
		}
	}
	if sameMap(pods[0].Spec.Containers[0].Resources.Requests, pods[0].Spec.Containers[0].Resources.Limits) {
		t.Error("pods: a container's requests and limits, which differ, are one map")
	}

	var tasks [2]*mesosv1alpha1.MesosTask
	for i, name := range []string{"p1", "p2"} {
		mt := task(name)
		want, ownID := mt.DeepCopy(), mt.Spec.TaskID
		o, err := trimTask(mt)
		if err != nil {
			t.Fatal(err)
		}
		tasks[i] = o.(*mesosv1alpha1.MesosTask)
		if !equality.Semantic.DeepEqual(tasks[i], want) {
			t.Errorf("MesosTask %s changed: %+v, want %+v", name, tasks[i], want)
		}
		if !same(tasks[i].Spec.TaskID, ownID) {
			t.Errorf("MesosTask %s: its task id was replaced", name)
		}
	}
	for what, pair := range map[string][2]string{
		"namespace":  {tasks[0].Namespace, tasks[1].Namespace},
		"finalizer":  {tasks[0].Finalizers[0], tasks[1].Finalizers[0]},
		"owner kind": {tasks[0].OwnerReferences[0].Kind, tasks[1].OwnerReferences[0].Kind},
		"cluster":    {tasks[0].Spec.ClusterRef, tasks[1].Spec.ClusterRef},
		"executor":   {tasks[0].Spec.ExecutorID, tasks[1].Spec.ExecutorID},
		"state":      {tasks[0].Status.MesosState, tasks[1].Status.MesosState},
		"agent":      {tasks[0].Status.AgentID, tasks[1].Status.AgentID},
		"hostname":   {tasks[0].Status.Hostname, tasks[1].Status.Hostname},
		"message":    {tasks[0].Status.Conditions[0].Message, tasks[1].Status.Conditions[0].Message},
	} {
		if !same(pair[0], pair[1]) {
			t.Errorf("MesosTasks: the %s %q is not shared", what, pair[0])
		}
	}
	if !sameMap(tasks[0].Labels, tasks[1].Labels) {
		t.Errorf("MesosTasks: the labels %v are not shared", tasks[0].Labels)
	}
}

// TestSharedMapsAreBounded: when maxSharedMaps values are kept, they are let go and
// sharing starts afresh (a map shared before keeps its value); values kept are shared.
func TestSharedMapsAreBounded(t *testing.T) {
	s := sharedMaps[map[string]string, string, string]{text: func(v string) string { return v }}
	ptr := func(m map[string]string) unsafe.Pointer { return reflect.ValueOf(m).UnsafePointer() }
	first := map[string]string{"app": "0"}
	s.share(&first)
	for i := 1; i < maxSharedMaps; i++ {
		m := map[string]string{"app": strconv.Itoa(i)}
		s.share(&m)
	}
	again := map[string]string{"app": "0"}
	if s.share(&again); ptr(again) != ptr(first) {
		t.Error("a value kept is not shared")
	}
	if len(s.kept) != maxSharedMaps {
		t.Fatalf("%d values kept, want %d", len(s.kept), maxSharedMaps)
	}
	past := map[string]string{"app": "past"}
	s.share(&past)
	if len(s.kept) != 1 || past["app"] != "past" {
		t.Errorf("past the bound: %d kept (want 1, sharing afresh), value %v", len(s.kept), past)
	}
	pastAgain := map[string]string{"app": "past"}
	if s.share(&pastAgain); ptr(pastAgain) != ptr(past) {
		t.Error("past the bound, a value kept afresh is not shared")
	}
	zero := map[string]string{"app": "0"}
	if s.share(&zero); ptr(zero) == ptr(first) || first["app"] != "0" {
		t.Error("a value let go is still shared, or lost its value")
	}
}
