package podtask

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// A pod that ended without its executor's last word (its agent gone, its task lost)
// shows no container waiting to start again, as a kubelet ends it (its status manager's
// TerminatePod): once the pod has initialized, every container not terminated is, exit
// code 137, ContainerStatusUnknown, its restarts kept (a Job's onExitCodes rules see an
// exit code, kubectl no CrashLoopBackOff on a Failed pod); of the init containers, those
// that tried to start. Containers that never started in a pod that never initialized
// stay waiting.
func TestAnEndedPodLeavesNoContainerWaiting(t *testing.T) {
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	waiting := func(reason string) corev1.ContainerState {
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
	}
	done := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}
	failed := corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}
	crashing := corev1.ContainerStatus{Name: "c", RestartCount: 3, State: waiting("CrashLoopBackOff"),
		LastTerminationState: corev1.ContainerState{Terminated: &failed}}
	type want struct {
		name  string
		ended bool // terminated, 137, ContainerStatusUnknown
	}
	for _, tc := range []struct {
		name  string
		inits []corev1.ContainerStatus
		mains []corev1.ContainerStatus
		want  []want // inits then mains
	}{
		{name: "a container crash-looping", mains: []corev1.ContainerStatus{crashing},
			want: []want{{"c", true}}},
		{name: "one running, one not started yet", mains: []corev1.ContainerStatus{{Name: "a", State: running}, {Name: "b", State: waiting("ContainerCreating")}},
			want: []want{{"a", true}, {"b", true}}},
		{name: "an init container running", inits: []corev1.ContainerStatus{{Name: "i", Started: ptr(true), State: running}, {Name: "j", State: waiting("PodInitializing")}},
			mains: []corev1.ContainerStatus{{Name: "c", State: waiting("PodInitializing")}},
			want:  []want{{"i", true}, {"j", false}, {"c", false}}},
		{name: "an init container crash-looping", inits: []corev1.ContainerStatus{{Name: "i", RestartCount: 2, State: waiting("CrashLoopBackOff"),
			LastTerminationState: corev1.ContainerState{Terminated: &failed}}},
			mains: []corev1.ContainerStatus{{Name: "c", State: waiting("PodInitializing")}},
			want:  []want{{"i", true}, {"c", false}}},
		{name: "initialized", inits: []corev1.ContainerStatus{{Name: "i", State: done}},
			mains: []corev1.ContainerStatus{{Name: "c", State: waiting("ContainerCreating")}},
			want:  []want{{"i", false}, {"c", true}}},
	} {
		for _, how := range []string{"gone", "unreachable too long"} {
			t.Run(tc.name+", "+how, func(t *testing.T) {
				pod := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning,
					InitContainerStatuses: tc.inits, ContainerStatuses: tc.mains}}
				pod = pod.DeepCopy()
				var got corev1.PodStatus
				if how == "gone" {
					got = PodStatusFor(pod, &mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseGone, MesosState: "TASK_GONE"}, nil)
				} else {
					got = *pod.Status.DeepCopy()
					UnreachableTooLong(&got)
				}
				all := append(append([]corev1.ContainerStatus{}, got.InitContainerStatuses...), got.ContainerStatuses...)
				before := append(append([]corev1.ContainerStatus{}, tc.inits...), tc.mains...)
				for i, w := range tc.want {
					c := all[i]
					term := c.State.Terminated
					ended := term != nil && term.ExitCode == 137 && term.Reason == ReasonContainerStatusUnknown && c.State.Waiting == nil
					if before[i].State.Terminated != nil {
						ended = term != nil && *term == *before[i].State.Terminated
						if !ended {
							t.Errorf("%s: its own end was replaced: %+v", c.Name, c.State)
						}
						continue
					}
					if ended != w.ended {
						t.Errorf("%s: state %+v, ended %v, want %v", c.Name, c.State, ended, w.ended)
					}
					if !w.ended && c.State.Waiting == nil {
						t.Errorf("%s: a container that never started is no longer waiting: %+v", c.Name, c.State)
					}
					if c.Ready || c.RestartCount != before[i].RestartCount {
						t.Errorf("%s: ready %v restarts %d, want false %d", c.Name, c.Ready, c.RestartCount, before[i].RestartCount)
					}
				}
			})
		}
	}
}

// Every pod a kubelet runs has PodReadyToStartContainers (GA, locked on, since
// Kubernetes 1.37): False (PodSandboxNotReady) until its sandbox is made, True once it
// is, False again once the pod ended and its sandbox stopped. k8sm's pod's sandbox is
// made when its executor starts it (it reports its containers, or the task runs); an
// executor that reports the condition (the kubelet runtime's kubelet) is taken at its
// word; an unreachable agent's pod keeps what it said.
func TestPodReadyToStartContainers(t *testing.T) {
	cond := func(s corev1.ConditionStatus, reason, msg string) *corev1.PodCondition {
		return &corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: s, Reason: reason, Message: msg}
	}
	noSandbox := cond(corev1.ConditionFalse, "PodSandboxNotReady", "no pod sandbox exists")
	stopped := cond(corev1.ConditionFalse, "PodSandboxNotReady", "pod sandbox is not ready")
	ready := cond(corev1.ConditionTrue, "", "")
	creating := `{"phase":"Pending","containerStatuses":[{"name":"c","state":{"waiting":{"reason":"ContainerCreating"}}}]}`
	for _, tc := range []struct {
		name  string
		phase mesosv1alpha1.TaskPhase
		had   *corev1.PodCondition
		data  string
		want  *corev1.PodCondition
	}{
		{name: "queued", phase: mesosv1alpha1.TaskPhasePending},
		{name: "staging", phase: mesosv1alpha1.TaskPhaseStaging, want: noSandbox},
		{name: "starting, nothing from the executor", phase: mesosv1alpha1.TaskPhaseStarting, data: `{"phase":"Pending"}`, want: noSandbox},
		{name: "starting its containers", phase: mesosv1alpha1.TaskPhaseStarting, data: creating, want: ready},
		{name: "starting, the executor's own word", phase: mesosv1alpha1.TaskPhaseStarting,
			data: `{"conditions":[{"type":"PodReadyToStartContainers","status":"False","reason":"PodSandboxNotReady","message":"pod sandbox has no IP address"}],` + creating[1:],
			want: cond(corev1.ConditionFalse, "PodSandboxNotReady", "pod sandbox has no IP address")},
		{name: "starting again without data", phase: mesosv1alpha1.TaskPhaseStarting, had: ready, want: ready},
		{name: "running", phase: mesosv1alpha1.TaskPhaseRunning, had: noSandbox, want: ready},
		{name: "killing", phase: mesosv1alpha1.TaskPhaseKilling, had: ready, want: ready},
		{name: "unreachable", phase: mesosv1alpha1.TaskPhaseUnreachable, had: ready, want: ready},
		{name: "finished", phase: mesosv1alpha1.TaskPhaseFinished, had: ready, want: stopped},
		{name: "failed", phase: mesosv1alpha1.TaskPhaseFailed, had: ready, want: stopped},
		{name: "killed", phase: mesosv1alpha1.TaskPhaseKilled, had: ready, want: stopped},
		{name: "gone", phase: mesosv1alpha1.TaskPhaseGone, had: ready, want: stopped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}
			if tc.had != nil {
				pod.Status.Phase = corev1.PodRunning
				pod.Status.Conditions = []corev1.PodCondition{*tc.had}
			}
			var data []byte
			if tc.data != "" {
				data = []byte(tc.data)
			}
			st := &mesosv1alpha1.MesosTaskStatus{Phase: tc.phase, MesosState: "TASK_" + string(tc.phase)}
			got := findCondition(ptr(PodStatusFor(pod, st, data)), corev1.PodReadyToStartContainers)
			if !equalCondition(got, tc.want) || (got != nil && got.Status != tc.want.Status) {
				t.Errorf("PodReadyToStartContainers = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Initialized says what a kubelet's would (GeneratePodInitializedCondition): True for a
// pod without init containers from the start, True once its init containers are done (a
// sidecar: started) or a main container started, with PodCompleted for a pod that
// succeeded; else False, ContainersNotInitialized, naming them. A task that ended
// without the executor's word before its init containers were done does not make it
// True. A regular init container that exited 0 is ready, as a kubelet's prober has it.
func TestInitializedAsAKubeletSaysIt(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	withInit := corev1.PodSpec{InitContainers: []corev1.Container{{Name: "i"}}, Containers: []corev1.Container{{Name: "c"}}}
	withSidecar := corev1.PodSpec{InitContainers: []corev1.Container{{Name: "s", RestartPolicy: &always}}, Containers: []corev1.Container{{Name: "c"}}}
	plain := corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	waiting := corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}
	done := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}
	initRunning := `{"initContainerStatuses":[{"name":"i","started":true,"state":{"running":{}}}],"containerStatuses":[{"name":"c","state":{"waiting":{"reason":"PodInitializing"}}}]}`
	initDone := `{"initContainerStatuses":[{"name":"i","state":{"terminated":{"exitCode":0,"reason":"Completed"}}}],"containerStatuses":[{"name":"c","ready":true,"started":true,"state":{"running":{}}}]}`
	finished := `{"initContainerStatuses":[{"name":"i","state":{"terminated":{"exitCode":0,"reason":"Completed"}}}],"containerStatuses":[{"name":"c","state":{"terminated":{"exitCode":0,"reason":"Completed"}}}]}`
	for _, tc := range []struct {
		name      string
		spec      corev1.PodSpec
		phase     mesosv1alpha1.TaskPhase
		inits     []corev1.ContainerStatus
		mains     []corev1.ContainerStatus
		data      string
		want      corev1.ConditionStatus
		reason    string
		initReady bool
	}{
		{name: "no init containers, staging", spec: plain, phase: mesosv1alpha1.TaskPhaseStaging, want: corev1.ConditionTrue},
		{name: "init containers, staging", spec: withInit, phase: mesosv1alpha1.TaskPhaseStaging, want: corev1.ConditionFalse, reason: "UnknownContainerStatuses"},
		{name: "an init container running", spec: withInit, phase: mesosv1alpha1.TaskPhaseStarting, data: initRunning,
			want: corev1.ConditionFalse, reason: "ContainersNotInitialized"},
		{name: "init done, running", spec: withInit, phase: mesosv1alpha1.TaskPhaseRunning, data: initDone, want: corev1.ConditionTrue, initReady: true},
		{name: "running, nothing known of its containers", spec: withInit, phase: mesosv1alpha1.TaskPhaseRunning, want: corev1.ConditionTrue},
		{name: "gone while an init container ran", spec: withInit, phase: mesosv1alpha1.TaskPhaseGone,
			inits: []corev1.ContainerStatus{{Name: "i", Started: ptr(true), State: running}}, mains: []corev1.ContainerStatus{{Name: "c", State: waiting}},
			want: corev1.ConditionFalse, reason: "ContainersNotInitialized"},
		{name: "failed after its init containers", spec: withInit, phase: mesosv1alpha1.TaskPhaseFailed,
			inits: []corev1.ContainerStatus{{Name: "i", Ready: true, State: done}}, mains: []corev1.ContainerStatus{{Name: "c", State: running}},
			want: corev1.ConditionTrue, initReady: true},
		{name: "finished", spec: withInit, phase: mesosv1alpha1.TaskPhaseFinished, data: finished, want: corev1.ConditionTrue, reason: "PodCompleted", initReady: true},
		{name: "a sidecar started", spec: withSidecar, phase: mesosv1alpha1.TaskPhaseStarting,
			data: `{"initContainerStatuses":[{"name":"s","started":true,"ready":true,"state":{"running":{}}}],"containerStatuses":[{"name":"c","state":{"waiting":{"reason":"ContainerCreating"}}}]}`,
			want: corev1.ConditionTrue, initReady: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: tc.spec, Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: tc.inits, ContainerStatuses: tc.mains}}
			if tc.inits != nil {
				pod.Status.Phase = corev1.PodRunning
			}
			var data []byte
			if tc.data != "" {
				data = []byte(tc.data)
			}
			st := &mesosv1alpha1.MesosTaskStatus{Phase: tc.phase, MesosState: "TASK_" + string(tc.phase)}
			got := PodStatusFor(pod, st, data)
			c := findCondition(&got, corev1.PodInitialized)
			if c == nil || c.Status != tc.want || c.Reason != tc.reason {
				t.Fatalf("Initialized = %+v, want %s %q", c, tc.want, tc.reason)
			}
			if len(got.InitContainerStatuses) > 0 && got.InitContainerStatuses[0].Ready != tc.initReady {
				t.Errorf("the init container's ready %v, want %v", got.InitContainerStatuses[0].Ready, tc.initReady)
			}
		})
	}
}
