package podtask

import (
	"encoding/json"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/placement"
)

func container(cpu, mem string) corev1.Container {
	c := corev1.Container{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{}}}
	if cpu != "" {
		c.Resources.Requests[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		c.Resources.Requests[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return c
}

func TestResourcesFor(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	sidecar := container("200m", "64Mi")
	sidecar.RestartPolicy = &always
	limitsOnly := corev1.Container{Name: "l", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("1"), ResourceGPU: resource.MustParse("2")}}}
	withPorts := container("100m", "")
	withPorts.Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}, {ContainerPort: 81}}

	for _, tc := range []struct {
		name     string
		spec     corev1.PodSpec
		cpu, mem string
		gpus     int32
		ports    []int32
		disk     string
	}{
		{"defaults when nothing is requested", corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}, "100m", "64Mi", 0, nil, ""},
		{"sum of containers", corev1.PodSpec{Containers: []corev1.Container{container("250m", "128Mi"), container("500m", "256Mi")}}, "750m", "384Mi", 0, nil, ""},
		{"an init container larger than the sum wins", corev1.PodSpec{InitContainers: []corev1.Container{container("2", "1Gi")}, Containers: []corev1.Container{container("500m", "256Mi")}}, "2", "1Gi", 0, nil, ""},
		{"sidecars add to the sum", corev1.PodSpec{InitContainers: []corev1.Container{sidecar}, Containers: []corev1.Container{container("500m", "256Mi")}}, "700m", "320Mi", 0, nil, ""},
		{"overhead is added", corev1.PodSpec{Containers: []corev1.Container{container("500m", "256Mi")}, Overhead: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}, "600m", "256Mi", 0, nil, ""},
		{"limits stand in for requests, gpus from nvidia.com/gpu", corev1.PodSpec{Containers: []corev1.Container{limitsOnly}}, "1", "64Mi", 2, nil, ""},
		{"host ports", corev1.PodSpec{Containers: []corev1.Container{withPorts}}, "100m", "64Mi", 0, []int32{8080}, ""},
		{"ephemeral storage is disk", corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")}}}}}, "100m", "64Mi", 0, nil, "1Gi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ResourcesFor(&corev1.Pod{Spec: tc.spec})
			if r.CPUs.Cmp(resource.MustParse(tc.cpu)) != 0 || r.Memory.Cmp(resource.MustParse(tc.mem)) != 0 {
				t.Errorf("cpu %s mem %s, want %s %s", r.CPUs, r.Memory, tc.cpu, tc.mem)
			}
			if r.GPUs != tc.gpus || len(r.Ports) != len(tc.ports) || (len(tc.ports) > 0 && r.Ports[0] != tc.ports[0]) {
				t.Errorf("gpus %d ports %v, want %d %v", r.GPUs, r.Ports, tc.gpus, tc.ports)
			}
			if (tc.disk == "") != (r.Disk == nil) || (r.Disk != nil && r.Disk.Cmp(resource.MustParse(tc.disk)) != 0) {
				t.Errorf("disk %v, want %q", r.Disk, tc.disk)
			}
		})
	}
}

func TestTaskIDAndRequest(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u-1"},
		Spec: corev1.PodSpec{NodeSelector: map[string]string{"rack": "r1"}, Containers: []corev1.Container{container("1500m", "1Gi")}}}
	if TaskIDFor(pod) != "k8sm.u-1" {
		t.Fatalf("TaskIDFor = %q", TaskIDFor(pod))
	}
	mt := &mesosv1alpha1.MesosTask{Spec: mesosv1alpha1.MesosTaskSpec{TaskID: TaskIDFor(pod), Resources: ResourcesFor(pod), Role: "k8s"}}
	r := RequestFor(pod, mt)
	if r.ID != "k8sm.u-1" || r.CPUs != 1.5 || r.MemMB != 1024 || r.Role != "k8s" || r.NodeSelector["rack"] != "r1" || r.Hostname != "" {
		t.Fatalf("RequestFor = %+v", r)
	}
	pod.Spec.NodeName = "mesos-c-agent-1"
	mt.Status.Hostname = "agent-1"
	if r := RequestFor(pod, mt); r.Hostname != "agent-1" {
		t.Fatalf("a bound pod must be pinned to its agent: %+v", r)
	}
}

func TestBuildTaskInfo(t *testing.T) {
	grace := int64(7)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u-1",
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
		Spec:   corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending}}
	cpus := mesos.Resource{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 1}}
	a := placement.Assignment{Request: placement.Request{ID: "k8sm.u-1"}, AgentID: mesos.AgentID{Value: "S1"},
		Resources: []mesos.Resource{cpus}, ExecutorResources: []mesos.Resource{cpus}}
	exec := mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: "k8sm-executor-c"}}
	ti, err := BuildTaskInfo(pod, a, exec)
	if err != nil {
		t.Fatal(err)
	}
	if ti.TaskID.Value != "k8sm.u-1" || ti.AgentID.Value != "S1" || ti.Name != "ns/web" || len(ti.Resources) != 1 {
		t.Fatalf("TaskInfo = %+v", ti)
	}
	if ti.Executor == nil || ti.Executor.ExecutorID.Value != "k8sm-executor-c" || len(ti.Executor.Resources) != 1 {
		t.Fatalf("executor = %+v", ti.Executor)
	}
	if ti.KillPolicy.GetGracePeriod().GetNanoseconds() != (7 * time.Second).Nanoseconds() {
		t.Fatalf("kill policy = %v", ti.KillPolicy)
	}
	labels := map[string]string{}
	for _, l := range ti.Labels.Labels {
		labels[l.Key] = l.GetValue()
	}
	if labels[LabelNamespace] != "ns" || labels[LabelName] != "web" || labels[LabelUID] != "u-1" {
		t.Fatalf("labels = %v", labels)
	}
	var back corev1.Pod
	if err := json.Unmarshal(ti.Data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Name != "web" || back.Spec.Containers[0].Image != "busybox" || back.ManagedFields != nil || back.Status.Phase != "" {
		t.Fatalf("data = %+v", back)
	}
}

func update(state mesos.TaskState, reason *mesos.TaskStatus_Reason, uuid string) mesos.TaskStatus {
	ts := mesos.TaskStatus{TaskID: mesos.TaskID{Value: "t"}, State: state.Enum(), AgentID: &mesos.AgentID{Value: "S1"}, Reason: reason}
	if uuid != "" {
		ts.UUID = []byte(uuid)
		ts.Source = mesos.SOURCE_EXECUTOR.Enum()
	}
	return ts
}

func TestStateTable(t *testing.T) {
	for _, tc := range []struct {
		state mesos.TaskState
		phase mesosv1alpha1.TaskPhase
		pod   corev1.PodPhase
	}{
		{mesos.TASK_STAGING, mesosv1alpha1.TaskPhaseStaging, corev1.PodPending},
		{mesos.TASK_STARTING, mesosv1alpha1.TaskPhaseStarting, corev1.PodPending},
		{mesos.TASK_RUNNING, mesosv1alpha1.TaskPhaseRunning, corev1.PodRunning},
		{mesos.TASK_KILLING, mesosv1alpha1.TaskPhaseKilling, corev1.PodRunning},
		{mesos.TASK_FINISHED, mesosv1alpha1.TaskPhaseFinished, corev1.PodSucceeded},
		{mesos.TASK_FAILED, mesosv1alpha1.TaskPhaseFailed, corev1.PodFailed},
		{mesos.TASK_ERROR, mesosv1alpha1.TaskPhaseFailed, corev1.PodFailed},
		{mesos.TASK_KILLED, mesosv1alpha1.TaskPhaseKilled, corev1.PodFailed},
		{mesos.TASK_DROPPED, mesosv1alpha1.TaskPhasePending, corev1.PodPending},
		{mesos.TASK_UNREACHABLE, mesosv1alpha1.TaskPhaseUnreachable, corev1.PodRunning},
		{mesos.TASK_LOST, mesosv1alpha1.TaskPhaseUnreachable, corev1.PodRunning},
		{mesos.TASK_GONE, mesosv1alpha1.TaskPhaseGone, corev1.PodFailed},
		{mesos.TASK_GONE_BY_OPERATOR, mesosv1alpha1.TaskPhaseGone, corev1.PodFailed},
		{mesos.TASK_UNKNOWN, mesosv1alpha1.TaskPhaseGone, corev1.PodFailed},
	} {
		t.Run(tc.state.String(), func(t *testing.T) {
			// A task that has run (its last update was RUNNING).
			st := &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, PodPhase: corev1.PodRunning, MesosState: "TASK_RUNNING"}
			if tc.state == mesos.TASK_STAGING || tc.state == mesos.TASK_STARTING || tc.state == mesos.TASK_DROPPED {
				st = &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStaging, MesosState: "TASK_STAGING"}
			}
			changed := ApplyUpdate(st, update(tc.state, nil, "0123456789abcdef"), metav1.Now())
			if !changed && tc.state != mesos.TASK_RUNNING && tc.state != mesos.TASK_STAGING {
				t.Fatalf("no change")
			}
			if st.Phase != tc.phase || st.PodPhase != tc.pod || st.MesosState != tc.state.String() {
				t.Fatalf("phase %s pod %s state %s, want %s %s", st.Phase, st.PodPhase, st.MesosState, tc.phase, tc.pod)
			}
			if IsTerminalPhase(tc.phase) && st.FinishedAt == nil {
				t.Error("no finishedAt on a terminal phase")
			}
		})
	}
}

func TestApplyUpdateIsIdempotentAndMonotonic(t *testing.T) {
	st := &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStaging}
	running := update(mesos.TASK_RUNNING, nil, "0123456789abcdef")
	if !ApplyUpdate(st, running, metav1.Now()) || st.StartedAt == nil || st.LastUpdateUUID != "30313233343536373839616263646566" || st.Source != "SOURCE_EXECUTOR" {
		t.Fatalf("first RUNNING: %+v", st)
	}
	if ApplyUpdate(st, running, metav1.Now()) {
		t.Fatal("the same update applied twice changed the status")
	}
	recon := mesos.REASON_RECONCILIATION
	if ApplyUpdate(st, update(mesos.TASK_RUNNING, &recon, ""), metav1.Now()) {
		t.Fatal("a reconciliation answer that says nothing new changed the status")
	}
	failed := update(mesos.TASK_FAILED, mesos.REASON_EXECUTOR_TERMINATED.Enum(), "fedcba9876543210")
	failed.Message = ptr("exit 1")
	if !ApplyUpdate(st, failed, metav1.Now()) || st.Reason != "REASON_EXECUTOR_TERMINATED" || st.Message != "exit 1" {
		t.Fatalf("FAILED: %+v", st)
	}
	if ApplyUpdate(st, running, metav1.Now()) || st.Phase != mesosv1alpha1.TaskPhaseFailed {
		t.Fatal("an older RUNNING sent again moved a failed task back")
	}
	if ApplyUpdate(st, update(mesos.TASK_LOST, &recon, ""), metav1.Now()) || st.Phase != mesosv1alpha1.TaskPhaseFailed {
		t.Fatal("a LOST answer to a second KILL moved a failed task to another phase")
	}
}

func TestLostFromReconciliationIsGone(t *testing.T) {
	st := &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, MesosState: "TASK_RUNNING"}
	recon := mesos.REASON_RECONCILIATION
	if !ApplyUpdate(st, update(mesos.TASK_LOST, &recon, ""), metav1.Now()) || st.Phase != mesosv1alpha1.TaskPhaseGone || st.FinishedAt == nil {
		t.Fatalf("%+v", st)
	}
	st = &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, MesosState: "TASK_RUNNING"}
	if !ApplyUpdate(st, update(mesos.TASK_LOST, mesos.REASON_AGENT_REMOVED.Enum(), ""), metav1.Now()) || st.Phase != mesosv1alpha1.TaskPhaseUnreachable {
		t.Fatalf("a lost agent's task: %+v", st)
	}
}

func TestALaunchMesosNeverRanIsLaunchedAgain(t *testing.T) {
	now := metav1.Now()
	st := &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStaging, LaunchedAt: &now, AgentID: "S1"}
	recon := mesos.REASON_RECONCILIATION
	if !ApplyUpdate(st, update(mesos.TASK_GONE, &recon, ""), now) || st.Phase != mesosv1alpha1.TaskPhasePending || st.LaunchedAt != nil {
		t.Fatalf("%+v", st)
	}
}

func TestPodStatusFor(t *testing.T) {
	now := metav1.Now()
	pod := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}
	execStatus, _ := json.Marshal(corev1.PodStatus{
		PodIP:             "10.0.0.9",
		Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "c", RestartCount: 2, Ready: false}},
	})
	healthyFalse := false
	for _, tc := range []struct {
		name   string
		st     mesosv1alpha1.MesosTaskStatus
		data   []byte
		phase  corev1.PodPhase
		ready  corev1.ConditionStatus
		reason string
	}{
		{"staging is pending and scheduled", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseStaging, LaunchedAt: &now}, nil, corev1.PodPending, corev1.ConditionFalse, ""},
		{"running without data is ready", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning}, nil, corev1.PodRunning, corev1.ConditionTrue, ""},
		{"running with the executor's status", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning}, execStatus, corev1.PodRunning, corev1.ConditionFalse, ""},
		{"malformed data is ignored", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning}, []byte("{not json"), corev1.PodRunning, corev1.ConditionTrue, ""},
		{"unhealthy is not ready", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, Healthy: &healthyFalse}, nil, corev1.PodRunning, corev1.ConditionFalse, ""},
		{"finished", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseFinished}, nil, corev1.PodSucceeded, corev1.ConditionFalse, ""},
		{"failed carries the Mesos reason", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseFailed, Reason: "REASON_COMMAND_EXECUTOR_FAILED", Message: "exit 1"}, nil, corev1.PodFailed, corev1.ConditionFalse, "REASON_COMMAND_EXECUTOR_FAILED"},
		{"gone", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseGone, MesosState: "TASK_GONE"}, nil, corev1.PodFailed, corev1.ConditionFalse, ReasonTaskGone},
		{"unreachable is not ready", mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseUnreachable, MesosState: "TASK_UNREACHABLE"}, nil, corev1.PodPending, corev1.ConditionFalse, ReasonAgentUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PodStatusFor(pod, &tc.st, tc.data)
			if got.Phase != tc.phase || got.Reason != tc.reason {
				t.Fatalf("phase %s reason %q, want %s %q", got.Phase, got.Reason, tc.phase, tc.reason)
			}
			if c := conditionOf(&got, corev1.PodReady, "<none>"); c != tc.ready {
				t.Fatalf("Ready = %s, want %s", c, tc.ready)
			}
			if tc.data != nil && json.Valid(tc.data) && (got.PodIP != "10.0.0.9" || got.ContainerStatuses[0].RestartCount != 2) {
				t.Fatalf("executor status not merged: %+v", got)
			}
			if conditionOf(&got, corev1.PodScheduled, "<none>") != corev1.ConditionTrue {
				t.Fatal("a launched pod is not PodScheduled")
			}
			again := PodStatusFor(&corev1.Pod{Status: got}, &tc.st, tc.data)
			if PodStatusChanged(&got, &again) {
				t.Fatal("the same task status gives a different pod status")
			}
		})
	}
}
