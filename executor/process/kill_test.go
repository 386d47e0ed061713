package process

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// A second KILL may only shorten the wait before SIGKILL, as Mesos's command executor
// and the kubelet's effective grace period do: `kubectl delete --grace-period=1` after a
// delete with the pod's hour-long grace period ends a container that ignores SIGTERM
// (or sleeps in its preStop hook) at once, or 2 s after its SIGTERM (minimumGrace); a
// longer grace after a short one does not keep it longer. The recorder gives up after
// 20 s, far below the hour.
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
			p, trapped := ignoringSIGTERM(t)
			if tc.preStop {
				p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 3600}}}
			}
			h, rec, _ := start(t, p)
			trapped()
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

// A later KILL's grace counts from the first KILL, as the API server counts a second
// delete's from the first and Mesos's command executor a second KILL's: a pod deleted
// with an hour's grace, deleted again 2 s later with 2 s, is due at once, its container
// (which ignores SIGTERM) is not given the 2 s again.
func TestALaterKillsGraceCountsFromTheFirstKill(t *testing.T) {
	const second = 2 * time.Second
	p, trapped := ignoringSIGTERM(t)
	h, rec, _ := start(t, p)
	trapped()
	first := time.Now()
	go h.Kill(time.Hour)
	eventually(t, "the first kill began", h.(*pod).isKilled)
	time.Sleep(time.Until(first.Add(second))) // the second KILL's grace, passed since the first
	killed := time.Now()
	go h.Kill(second)
	if rep := rec.until(t, "the pod was killed", ended); !rep.Killed {
		t.Fatalf("%+v", rep)
	}
	if took := time.Since(killed); took >= second {
		t.Fatalf("the pod was killed %s after the second KILL, its grace counted from that KILL; want at once, its grace counted from the first is over", took)
	}
}

// ignoringSIGTERM is a pod whose container ignores SIGTERM, so only SIGKILL ends it;
// trapped waits until it does (a SIGTERM that came before would end it).
func ignoringSIGTERM(t *testing.T) (p *corev1.Pod, trapped func()) {
	t.Helper()
	file := filepath.Join(sharedDir(t), "trapped")
	return shPod(corev1.RestartPolicyAlways, `trap "" TERM; touch `+file+`; sleep 300`), func() {
		t.Helper()
		eventually(t, "the container ignores SIGTERM", func() bool { _, err := os.Stat(file); return err == nil })
	}
}
