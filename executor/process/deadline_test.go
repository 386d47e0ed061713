package process

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// spec.activeDeadlineSeconds, counted from the pod's start as the kubelet counts it: a
// pod still running then fails with reason DeadlineExceeded once its containers were
// stopped with their grace period (a container that ignores SIGTERM gets SIGKILL when
// that is over); one that ended before is not touched.
func TestActiveDeadlineFailsThePod(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		grace  int64
		phase  corev1.PodPhase
		reason string
	}{
		{"still running", "sleep 300", 30, corev1.PodFailed, ReasonDeadlineExceeded},
		{"ignores SIGTERM", `trap "" TERM; sleep 300`, 1, corev1.PodFailed, ReasonDeadlineExceeded},
		{"ended before", "exit 0", 30, corev1.PodSucceeded, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := shPod(corev1.RestartPolicyAlways, tc.script)
			if tc.phase == corev1.PodSucceeded {
				p.Spec.RestartPolicy = corev1.RestartPolicyNever
			}
			p.Spec.ActiveDeadlineSeconds, p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1), &tc.grace
			_, rec, _ := start(t, p)
			rep := rec.until(t, "the pod ended", ended)
			st := rep.Status
			if rep.Killed || st.Phase != tc.phase || st.Reason != tc.reason {
				t.Fatalf("killed %v, phase %s, reason %q, want %s %q", rep.Killed, st.Phase, st.Reason, tc.phase, tc.reason)
			}
			if tc.reason == "" {
				return
			}
			term := st.ContainerStatuses[0].State.Terminated
			if term == nil || st.Message != deadlineMessage || rep.Message != deadlineMessage {
				t.Fatalf("container %+v, messages %q and %q", st.ContainerStatuses[0].State, st.Message, rep.Message)
			}
			if ran := term.FinishedAt.Sub(st.StartTime.Time); ran < time.Second {
				t.Fatalf("the container was stopped %v after the pod started, before its deadline", ran)
			}
		})
	}
}
