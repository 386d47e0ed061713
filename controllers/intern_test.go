package controllers

import (
	"reflect"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

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
	sameMap := func(a, b any) bool { return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer() }

	pods := transformPair(t, "pod", pod, trimPod, func(p *corev1.Pod) string { return p.Name })
	expectShared(t, "pods", map[string][2]string{
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
	})
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

	tasks := transformPair(t, "MesosTask", task, func(o any) (any, error) {
		internTask(o.(*mesosv1alpha1.MesosTask))
		return o, nil
	}, func(mt *mesosv1alpha1.MesosTask) string { return mt.Spec.TaskID })
	expectShared(t, "MesosTasks", map[string][2]string{
		"namespace":  {tasks[0].Namespace, tasks[1].Namespace},
		"finalizer":  {tasks[0].Finalizers[0], tasks[1].Finalizers[0]},
		"owner kind": {tasks[0].OwnerReferences[0].Kind, tasks[1].OwnerReferences[0].Kind},
		"cluster":    {tasks[0].Spec.ClusterRef, tasks[1].Spec.ClusterRef},
		"executor":   {tasks[0].Spec.ExecutorID, tasks[1].Spec.ExecutorID},
		"state":      {tasks[0].Status.MesosState, tasks[1].Status.MesosState},
		"agent":      {tasks[0].Status.AgentID, tasks[1].Status.AgentID},
		"hostname":   {tasks[0].Status.Hostname, tasks[1].Status.Hostname},
		"message":    {tasks[0].Status.Conditions[0].Message, tasks[1].Status.Conditions[0].Message},
	})
	if !sameMap(tasks[0].Labels, tasks[1].Labels) {
		t.Errorf("MesosTasks: the labels %v are not shared", tasks[0].Labels)
	}
}

// transformPair passes two objects, made apart by mk, through the cache's transform and
// checks that each comes out unchanged in value and with its own string (own) its own.
func transformPair[T interface{ DeepCopyObject() runtime.Object }](t *testing.T, kind string, mk func(name string) T, transform func(any) (any, error), own func(T) string) [2]T {
	t.Helper()
	var out [2]T
	for i, name := range []string{"p1", "p2"} {
		o := mk(name)
		want, ownValue := o.DeepCopyObject(), own(o)
		got, err := transform(o)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = got.(T)
		if !equality.Semantic.DeepEqual(got, want) {
			t.Errorf("%s %s changed: %+v, want %+v", kind, name, got, want)
		}
		if !same(own(out[i]), ownValue) {
			t.Errorf("%s %s: a string of its own was replaced", kind, name)
		}
	}
	return out
}

// expectShared checks that each pair of strings is one copy.
func expectShared(t *testing.T, kind string, pairs map[string][2]string) {
	t.Helper()
	for what, pair := range pairs {
		if !same(pair[0], pair[1]) {
			t.Errorf("%s: the %s %q is not shared", kind, what, pair[0])
		}
	}
}

func same(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }

// A string shared stays shared across garbage collections: one interned after a
// collection is the copy interned before it.
func TestSharedStringsOutliveACollection(t *testing.T) {
	before := strings.Repeat("team-", 2) + "gc"
	in(&before)
	goruntime.GC()
	goruntime.GC()
	after := strings.Repeat("team-", 2) + "gc"
	if in(&after); !same(before, after) {
		t.Error("a string interned after a collection is a copy of its own")
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

// The strings kept shared are bounded as the maps are: past maxSharedStrings they are
// let go, and sharing starts afresh.
func TestSharedStringsAreBounded(t *testing.T) {
	sharedStrings.mu.Lock()
	saved := sharedStrings.kept
	sharedStrings.kept = nil
	sharedStrings.mu.Unlock()
	t.Cleanup(func() { sharedStrings.mu.Lock(); sharedStrings.kept = saved; sharedStrings.mu.Unlock() })
	for i := range maxSharedStrings {
		s := "bounded-" + strconv.Itoa(i)
		in(&s)
	}
	if n := len(sharedStrings.kept); n != maxSharedStrings {
		t.Fatalf("%d strings kept, want %d", n, maxSharedStrings)
	}
	again := "bounded-" + strconv.Itoa(0)
	if in(&again); len(sharedStrings.kept) != maxSharedStrings {
		t.Errorf("a string kept again counted anew: %d kept", len(sharedStrings.kept))
	}
	past := "bounded-past"
	if in(&past); len(sharedStrings.kept) != 1 {
		t.Errorf("past the bound: %d kept, want 1 (sharing afresh)", len(sharedStrings.kept))
	}
}
