package podtask

import (
	"errors"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

func TestMayRun(t *testing.T) {
	pod := func(uid, node string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid)}, Spec: corev1.PodSpec{NodeName: node}}
	}
	ran := func(p *corev1.Pod) *corev1.Pod {
		p.Status.Phase = corev1.PodRunning
		return p
	}
	launched := func(p *corev1.Pod) *corev1.Pod {
		MarkLaunched(&p.Status, metav1.Now())
		return p
	}
	task := func(phase mesosv1alpha1.TaskPhase, pinned string) *mesosv1alpha1.MesosTask {
		return &mesosv1alpha1.MesosTask{Spec: mesosv1alpha1.MesosTaskSpec{PodUID: "u1", NodeName: pinned},
			Status: mesosv1alpha1.MesosTaskStatus{Phase: phase}}
	}
	for _, tc := range []struct {
		name             string
		mt               *mesosv1alpha1.MesosTask
		pod              *corev1.Pod
		mayRun, unrecord bool
		needsWrite       bool
	}{
		{"queued, unbound", task("", ""), pod("u1", ""), false, false, false},
		{"bound by us, nothing written: the binding is the record", task("", ""), pod("u1", "n"), true, true, false},
		{"bound by us, pod gone", task("", ""), nil, false, false, false},
		{"bound before it was taken: its launch is written first", task("", "n"), pod("u1", "n"), false, false, true},
		{"bound before it was taken, running, its MesosTask made again", task("", "n"), ran(pod("u1", "n")), true, true, true},
		{"bound before it was taken, launched, not reported, its MesosTask made again", task("", "n"), launched(pod("u1", "n")), true, true, true},
		{"waited Unschedulable", task(mesosv1alpha1.TaskPhasePending, ""), pod("u1", ""), false, false, true},
		{"staging", task(mesosv1alpha1.TaskPhaseStaging, ""), pod("u1", "n"), true, false, true},
		{"running", task(mesosv1alpha1.TaskPhaseRunning, ""), pod("u1", "n"), true, false, true},
		{"killing", task(mesosv1alpha1.TaskPhaseKilling, ""), pod("u1", "n"), true, false, true},
		{"unreachable", task(mesosv1alpha1.TaskPhaseUnreachable, ""), pod("u1", "n"), true, false, true},
		{"finished", task(mesosv1alpha1.TaskPhaseFinished, ""), pod("u1", "n"), false, false, true},
		{"gone", task(mesosv1alpha1.TaskPhaseGone, ""), pod("u1", "n"), false, false, true},
	} {
		if got := MayRun(tc.mt, tc.pod); got != tc.mayRun {
			t.Errorf("%s: MayRun = %v, want %v", tc.name, got, tc.mayRun)
		}
		if got := BoundUnrecorded(tc.mt, tc.pod); got != tc.unrecord {
			t.Errorf("%s: BoundUnrecorded = %v, want %v", tc.name, got, tc.unrecord)
		}
		if got := LaunchNeedsWrite(tc.mt); got != tc.needsWrite {
			t.Errorf("%s: LaunchNeedsWrite = %v, want %v", tc.name, got, tc.needsWrite)
		}
	}
}

func TestMayComeBack(t *testing.T) {
	pod := func(uid string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid)}, Spec: corev1.PodSpec{NodeName: "n"},
			Status: corev1.PodStatus{Phase: phase}}
	}
	launched := func(p *corev1.Pod) *corev1.Pod {
		MarkLaunched(&p.Status, metav1.Now())
		return p
	}
	task := func(phase mesosv1alpha1.TaskPhase, pinned string) *mesosv1alpha1.MesosTask {
		return &mesosv1alpha1.MesosTask{Spec: mesosv1alpha1.MesosTaskSpec{PodUID: "u1", NodeName: pinned},
			Status: mesosv1alpha1.MesosTaskStatus{Phase: phase}}
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		mt   *mesosv1alpha1.MesosTask
		want bool
	}{
		{"bound by the cluster, no MesosTask yet: the binding records the launch", pod("u1", corev1.PodPending), nil, true},
		{"bound by the cluster, MesosTask without a phase", pod("u1", corev1.PodPending), task("", ""), true},
		{"unreachable", pod("u1", corev1.PodRunning), task(mesosv1alpha1.TaskPhaseUnreachable, ""), true},
		{"running", pod("u1", corev1.PodRunning), task(mesosv1alpha1.TaskPhaseRunning, ""), true},
		{"staging", pod("u1", corev1.PodPending), task(mesosv1alpha1.TaskPhaseStaging, ""), true},
		{"the pod failed (NodeLost after the unreachable timeout)", pod("u1", corev1.PodFailed), task(mesosv1alpha1.TaskPhaseUnreachable, ""), false},
		{"the pod succeeded", pod("u1", corev1.PodSucceeded), nil, false},
		{"waiting for room on the agent, never launched", pod("u1", corev1.PodPending), task(mesosv1alpha1.TaskPhasePending, "n"), false},
		{"bound before it was taken, not launched yet", pod("u1", corev1.PodPending), task("", "n"), false},
		{"bound before it was taken, launched, its MesosTask made again", launched(pod("u1", corev1.PodPending)), task("", "n"), true},
		{"the task ended", pod("u1", corev1.PodRunning), task(mesosv1alpha1.TaskPhaseGone, ""), false},
		{"another pod's MesosTask of the same name", pod("u2", corev1.PodRunning), task(mesosv1alpha1.TaskPhaseRunning, ""), false},
	} {
		if got := MayComeBack(tc.pod, tc.mt); got != tc.want {
			t.Errorf("%s: MayComeBack = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestBoundUnrecordedIsForThisPodOnly(t *testing.T) {
	mt := &mesosv1alpha1.MesosTask{Spec: mesosv1alpha1.MesosTaskSpec{PodUID: "old"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "new"}, Spec: corev1.PodSpec{NodeName: "n"}}
	if BoundUnrecorded(mt, pod) {
		t.Fatal("a newer pod of the same name counts as the MesosTask's")
	}
}

func TestMustKillForEndedPod(t *testing.T) {
	for _, tc := range []struct {
		pod   corev1.PodPhase
		task  mesosv1alpha1.TaskPhase
		want  bool
		about string
	}{
		{corev1.PodFailed, mesosv1alpha1.TaskPhaseRunning, true, "came back with its agent after NodeLost"},
		{corev1.PodFailed, mesosv1alpha1.TaskPhaseStaging, true, "relaunched after the pod ended"},
		{corev1.PodFailed, mesosv1alpha1.TaskPhaseKilling, false, "already being killed"},
		{corev1.PodFailed, mesosv1alpha1.TaskPhaseFailed, false, "ended too"},
		{corev1.PodFailed, "", false, "never launched"},
		{corev1.PodRunning, mesosv1alpha1.TaskPhaseRunning, false, "a running pod"},
	} {
		mt := &mesosv1alpha1.MesosTask{Status: mesosv1alpha1.MesosTaskStatus{Phase: tc.task}}
		pod := &corev1.Pod{Status: corev1.PodStatus{Phase: tc.pod}}
		if got := MustKillForEndedPod(mt, pod); got != tc.want {
			t.Errorf("%s: MustKillForEndedPod = %v, want %v", tc.about, got, tc.want)
		}
	}
}

func TestLostForGood(t *testing.T) {
	for _, tc := range []struct {
		pod   corev1.PodPhase
		task  mesosv1alpha1.TaskPhase
		want  bool
		about string
	}{
		{corev1.PodFailed, mesosv1alpha1.TaskPhaseUnreachable, true, "Failed with NodeLost while unreachable"},
		{corev1.PodRunning, mesosv1alpha1.TaskPhaseUnreachable, false, "unreachable, not for long yet"},
		{corev1.PodFailed, mesosv1alpha1.TaskPhaseRunning, false, "came back with its agent: it is killed"},
		{corev1.PodFailed, mesosv1alpha1.TaskPhaseKilling, false, "being killed"},
	} {
		mt := &mesosv1alpha1.MesosTask{Status: mesosv1alpha1.MesosTaskStatus{Phase: tc.task}}
		pod := &corev1.Pod{Status: corev1.PodStatus{Phase: tc.pod}}
		if got := LostForGood(mt, pod); got != tc.want {
			t.Errorf("%s: LostForGood = %v, want %v", tc.about, got, tc.want)
		}
	}
}

func TestReleasedUnreachable(t *testing.T) {
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "u2"}}
	own := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "u1"}}
	for _, tc := range []struct {
		name  string
		phase mesosv1alpha1.TaskPhase
		pod   *corev1.Pod
		want  bool
	}{
		{"unreachable, its pod gone", mesosv1alpha1.TaskPhaseUnreachable, nil, true},
		{"unreachable, another pod of its name", mesosv1alpha1.TaskPhaseUnreachable, other, true},
		{"unreachable, its own pod there", mesosv1alpha1.TaskPhaseUnreachable, own, false},
		{"running, its pod gone: it is killed", mesosv1alpha1.TaskPhaseRunning, nil, false},
		{"staging, another pod of its name", mesosv1alpha1.TaskPhaseStaging, other, false},
		{"killing, its pod gone", mesosv1alpha1.TaskPhaseKilling, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mt := &mesosv1alpha1.MesosTask{Spec: mesosv1alpha1.MesosTaskSpec{PodUID: "u1", TaskID: "k8sm.u1"},
				Status: mesosv1alpha1.MesosTaskStatus{Phase: tc.phase}}
			if got := ReleasedUnreachable(mt, tc.pod); got != tc.want {
				t.Errorf("ReleasedUnreachable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSetLaunchedAndFillLaunch(t *testing.T) {
	at := metav1.Now()
	l := Launch{AgentID: "a1", Hostname: "agent-1", ExecutorID: "e1", At: at}
	st := &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhasePending, Reason: "TASK_DROPPED", Message: "dropped"}
	SetLaunched(st, l, 4)
	if st.Phase != mesosv1alpha1.TaskPhaseStaging || st.PodPhase != corev1.PodPending || st.Reason != "" || st.Message != "" ||
		st.AgentID != "a1" || st.Hostname != "agent-1" || st.ExecutorID != "e1" || st.LaunchedAt == nil || st.ObservedGeneration != 4 {
		t.Fatalf("SetLaunched = %+v", st)
	}
	c := meta.FindStatusCondition(st.Conditions, mesosv1alpha1.TaskConditionScheduled)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != ReasonLaunched || c.ObservedGeneration != 4 {
		t.Fatalf("Scheduled = %+v", c)
	}
	if !LaunchFilled(st) || FillLaunch(st, Launch{AgentID: "other", Hostname: "other", At: at}, 4) {
		t.Fatal("a filled launch is filled again, or changed by another")
	}
	if st.AgentID != "a1" {
		t.Fatalf("FillLaunch overwrote the agent Mesos reported: %s", st.AgentID)
	}
}

func TestSetUnschedulable(t *testing.T) {
	st := &mesosv1alpha1.MesosTaskStatus{}
	if !SetUnschedulable(st, "0/2 agents available: 2 insufficient cpus.", 1) {
		t.Fatal("the first explanation changed nothing")
	}
	if st.Phase != mesosv1alpha1.TaskPhasePending || st.PodPhase != corev1.PodPending || st.Message == "" {
		t.Fatalf("status = %+v", st)
	}
	if SetUnschedulable(st, "0/2 agents available: 2 insufficient cpus.", 1) {
		t.Fatal("the same explanation is written twice")
	}
	if !SetUnschedulable(st, "0/3 agents available: 3 insufficient cpus.", 1) {
		t.Fatal("a new explanation changed nothing")
	}
	ps := &corev1.PodStatus{}
	SetPodUnschedulable(ps, st.Message)
	if len(ps.Conditions) != 1 || ps.Conditions[0].Type != corev1.PodScheduled || ps.Conditions[0].Status != corev1.ConditionFalse ||
		ps.Conditions[0].Reason != corev1.PodReasonUnschedulable || ps.Conditions[0].Message != st.Message {
		t.Fatalf("pod conditions = %+v", ps.Conditions)
	}
}

func TestSetInvalidAndNotAdmitted(t *testing.T) {
	st := &mesosv1alpha1.MesosTaskStatus{}
	SetInvalid(st, errors.New("hostPort 99999 out of range"))
	if st.Phase != mesosv1alpha1.TaskPhaseFailed || st.PodPhase != corev1.PodFailed || st.Reason != ReasonInvalidPod || st.Message != "hostPort 99999 out of range" {
		t.Fatalf("SetInvalid = %+v", st)
	}
	ps := &corev1.PodStatus{}
	SetNotAdmitted(ps, NotAdmittedMessage("c", "ns", "mesos-c-a"))
	if ps.Phase != corev1.PodFailed || ps.Reason != ReasonNamespaceNotAllowed ||
		ps.Message != "MesosCluster c does not take pods of namespace ns (spec.namespaceSelector); nothing runs pods on Node mesos-c-a" {
		t.Fatalf("SetNotAdmitted = %+v", ps)
	}
}

func TestPodPhaseEvent(t *testing.T) {
	mt := &mesosv1alpha1.MesosTask{Spec: mesosv1alpha1.MesosTaskSpec{TaskID: "k8sm.u1"},
		Status: mesosv1alpha1.MesosTaskStatus{Hostname: "agent-1", MesosState: "TASK_FAILED", Reason: "REASON_COMMAND_EXECUTOR_FAILED", Message: "exit 1"}}
	for _, tc := range []struct {
		phase corev1.PodPhase
		ok    bool
		want  Event
	}{
		{corev1.PodRunning, true, Event{corev1.EventTypeNormal, "Running", "Run", "Task k8sm.u1 is running on agent agent-1"}},
		{corev1.PodSucceeded, true, Event{corev1.EventTypeNormal, "Finished", "Run", "Task k8sm.u1 finished"}},
		{corev1.PodFailed, true, Event{corev1.EventTypeWarning, "Failed", "Run", "Task k8sm.u1 is TASK_FAILED: REASON_COMMAND_EXECUTOR_FAILED exit 1"}},
		{corev1.PodPending, false, Event{}},
	} {
		got, ok := PodPhaseEvent(tc.phase, mt)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s: event = %+v, %v; want %+v, %v", tc.phase, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRemovedEvent(t *testing.T) {
	task := func(phase mesosv1alpha1.TaskPhase, state string) *mesosv1alpha1.MesosTask {
		return &mesosv1alpha1.MesosTask{Spec: mesosv1alpha1.MesosTaskSpec{TaskID: "k8sm.u1"},
			Status: mesosv1alpha1.MesosTaskStatus{Phase: phase, MesosState: state}}
	}
	killed := Event{corev1.EventTypeNormal, "Killed", "Kill", "Task k8sm.u1 ended (TASK_KILLED) after the pod's deletion; the pod is removed"}
	for _, tc := range []struct {
		name string
		mt   *mesosv1alpha1.MesosTask
		ok   bool
	}{
		{"killed", task(mesosv1alpha1.TaskPhaseKilled, "TASK_KILLED"), true},
		{"never ran", task("", ""), false},
		{"sent back to the queue", task(mesosv1alpha1.TaskPhasePending, "TASK_DROPPED"), false},
		{"running", task(mesosv1alpha1.TaskPhaseRunning, "TASK_RUNNING"), false},
		{"no task", nil, false},
	} {
		got, ok := RemovedEvent(tc.mt)
		if ok != tc.ok || (ok && got != killed) {
			t.Errorf("%s: event = %+v, %v; want ok %v", tc.name, got, ok, tc.ok)
		}
	}
}

func TestRunsAfterEnd(t *testing.T) {
	for _, tc := range []struct {
		phase mesosv1alpha1.TaskPhase
		state mesos.TaskState
		want  bool
	}{
		{mesosv1alpha1.TaskPhaseGone, mesos.TASK_RUNNING, true},
		{mesosv1alpha1.TaskPhaseFailed, mesos.TASK_STARTING, true},
		{mesosv1alpha1.TaskPhaseFinished, mesos.TASK_STAGING, true},
		{mesosv1alpha1.TaskPhaseKilled, mesos.TASK_KILLING, false},
		{mesosv1alpha1.TaskPhaseFailed, mesos.TASK_FAILED, false},
		{mesosv1alpha1.TaskPhaseGone, mesos.TASK_UNREACHABLE, false},
		{mesosv1alpha1.TaskPhaseRunning, mesos.TASK_RUNNING, false},
		{mesosv1alpha1.TaskPhaseUnreachable, mesos.TASK_RUNNING, false},
	} {
		st := &mesosv1alpha1.MesosTaskStatus{Phase: tc.phase}
		if got := RunsAfterEnd(st, tc.state); got != tc.want {
			t.Errorf("%s then %s: RunsAfterEnd = %v, want %v", tc.phase, tc.state, got, tc.want)
		}
	}
}

// A KILL reaches a task Mesos reports live on an agent it can reach; one that ended, or
// of an agent Mesos cannot reach (or that Mesos does not know), gets a reconciliation
// answer instead: its state again.
func TestKillReaches(t *testing.T) {
	for _, tc := range []struct {
		state mesos.TaskState
		want  bool
	}{
		{mesos.TASK_STAGING, true}, {mesos.TASK_STARTING, true}, {mesos.TASK_RUNNING, true}, {mesos.TASK_KILLING, true},
		{mesos.TASK_UNREACHABLE, false}, {mesos.TASK_UNKNOWN, false},
		{mesos.TASK_LOST, false}, {mesos.TASK_KILLED, false}, {mesos.TASK_FINISHED, false}, {mesos.TASK_GONE, false},
	} {
		if got := KillReaches(tc.state); got != tc.want {
			t.Errorf("KillReaches(%s) = %v, want %v", tc.state, got, tc.want)
		}
	}
}
