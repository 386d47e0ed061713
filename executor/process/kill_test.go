package process

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/executor"
)

// A second KILL may only shorten the wait before SIGKILL, as Mesos's command executor
// and the kubelet's effective grace period do: `kubectl delete --grace-period=1` after a
// delete with the pod's hour-long grace period ends a container that ignores SIGTERM
// (or sleeps in its preStop hook) at once; a longer grace after a short one does not
// keep it longer. The recorder gives up after 20 s, far below the hour.
func TestALaterKillOnlyShortensTheGracePeriod(t *testing.T) {
	for _, tc := range []struct {
		name          string
		first, second time.Duration
		preStop       bool
	}{
		{"shorter, container ignores SIGTERM", time.Hour, 200 * time.Millisecond, false},
		{"shorter, during the preStop hook", time.Hour, 200 * time.Millisecond, true},
		{"longer after a short one", 200 * time.Millisecond, time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := shPod(corev1.RestartPolicyAlways, `trap "" TERM; sleep 300`)
			if tc.preStop {
				p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 3600}}}
			}
			h, rec, _ := start(t, p)
			rec.until(t, "the container runs", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
			pd := h.(*pod)
			go h.Kill(tc.first)
			eventually(t, "the first kill began", pd.isKilled)
			go h.Kill(tc.second)
			if rep := rec.until(t, "the pod was killed", ended); !rep.Killed {
				t.Fatalf("%+v", rep)
			}
		})
	}
}
