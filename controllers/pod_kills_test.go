package controllers

import (
	"math"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/internal/podtask"
)

// A deleted pod's KILL is sent once per grace period it is given, not once per pass over
// the pod: again only with a shorter grace, or once the grace and killResend passed. One
// that may have reached nothing (Mesos had not reported the task, or could not reach its
// agent) goes again after killResend, and at once when the task can be reached.
func TestKillsSentAreNotSentAgainAtEveryPass(t *testing.T) {
	t0 := time.Now()
	var k killsSent
	longest := time.Duration(podtask.MaxGracePeriodSeconds) * time.Second
	steps := []struct {
		name      string
		task      string
		grace     time.Duration
		at        time.Duration
		unreached bool // the task cannot be reached at this pass
		forget    bool
		due       bool
		recheck   time.Duration // when to look again, once sent
	}{
		{name: "first", task: "t1", grace: 30 * time.Second, due: true, recheck: 30*time.Second + killResend},
		{name: "the next pass", task: "t1", grace: 30 * time.Second, at: time.Second, due: false},
		{name: "a longer grace", task: "t1", grace: time.Minute, at: 2 * time.Second, due: false},
		{name: "another task", task: "t2", grace: 30 * time.Second, at: 2 * time.Second, due: true, recheck: 30*time.Second + killResend},
		{name: "a shorter grace", task: "t1", grace: time.Second, at: 3 * time.Second, due: true, recheck: time.Second + killResend},
		{name: "the same shorter grace", task: "t1", grace: time.Second, at: 4 * time.Second, due: false},
		{name: "not resent before the grace and killResend passed", task: "t1", grace: time.Second, at: 3*time.Second + killResend, due: false},
		{name: "resent once they passed", task: "t1", grace: time.Second, at: 4*time.Second + killResend, due: true, recheck: time.Second + killResend},
		{name: "forgotten with its pod", task: "t2", grace: 30 * time.Second, at: 5 * time.Second, forget: true, due: true, recheck: 30*time.Second + killResend},
		{name: "its agent found unreachable: not resent before killResend", task: "t2", grace: 30 * time.Second, at: 6 * time.Second, unreached: true, due: false},
		{name: "resent to the unreachable agent after killResend", task: "t2", grace: 30 * time.Second, at: 5*time.Second + killResend, unreached: true, due: true, recheck: killResend},
		{name: "unreachable still", task: "t2", grace: 30 * time.Second, at: 6*time.Second + killResend, unreached: true, due: false},
		{name: "its agent back", task: "t2", grace: 30 * time.Second, at: 7*time.Second + killResend, due: true, recheck: 30*time.Second + killResend},
		{name: "reached: not resent", task: "t2", grace: 30 * time.Second, at: 8*time.Second + killResend, due: false},
		{name: "a task not reported yet", task: "t3", grace: 30 * time.Second, at: 9 * time.Second, unreached: true, due: true, recheck: killResend},
		{name: "reported since", task: "t3", grace: 30 * time.Second, at: 10 * time.Second, due: true, recheck: 30*time.Second + killResend},
		{name: "the longest grace a kill policy holds", task: "t4", grace: longest, at: 11 * time.Second, due: true, recheck: math.MaxInt64},
		{name: "not resent at the next pass", task: "t4", grace: longest, at: 12 * time.Second, due: false},
	}
	for _, st := range steps {
		now := t0.Add(st.at)
		if st.forget {
			k.forget(st.task)
		}
		if got, _ := k.due(st.task, st.grace, !st.unreached, now); got != st.due {
			t.Fatalf("%s: due %v, want %v", st.name, got, st.due)
		}
		if !st.due {
			continue
		}
		if got := k.record(st.task, st.grace, !st.unreached, now); got != st.recheck {
			t.Errorf("%s: looked at again in %s, want %s", st.name, got, st.recheck)
		}
	}
}

// Past maxKillsRemembered, the KILLs old enough to be sent again are forgotten.
func TestKillsSentStayBounded(t *testing.T) {
	t0 := time.Now()
	var k killsSent
	for i := range maxKillsRemembered {
		k.record(string(rune('a'+i%26))+time.Duration(i).String(), time.Second, true, t0)
	}
	k.record("late", time.Second, true, t0.Add(time.Second+killResend))
	if n := len(k.sent); n != 1 {
		t.Fatalf("%d KILLs remembered, want only the latest", n)
	}
}

// A delete's grace period may be longer than a kill policy holds, or than a Duration:
// the KILL's is the longest one holds, not a wrapped number.
func TestKillGrace(t *testing.T) {
	for _, tc := range []struct {
		secs *int64
		want time.Duration
	}{
		{nil, 30 * time.Second},
		{new(int64(0)), 0},
		{new(int64(5)), 5 * time.Second},
		{new(int64(-1)), 0},
		{new(int64(math.MaxInt64)), time.Duration(podtask.MaxGracePeriodSeconds) * time.Second},
		{new(podtask.MaxGracePeriodSeconds + 1), time.Duration(podtask.MaxGracePeriodSeconds) * time.Second},
	} {
		pod := &corev1.Pod{}
		pod.DeletionGracePeriodSeconds = tc.secs
		if got := killGrace(pod); got != tc.want {
			t.Errorf("deletionGracePeriodSeconds %v: grace %s, want %s", tc.secs, got, tc.want)
		}
	}
}
