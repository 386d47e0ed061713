package controllers

import (
	"testing"
	"time"
)

// A deleted pod's KILL is sent once per grace period it is given, not once per pass over
// the pod: again only with a shorter grace, or once the grace and killResend passed.
func TestKillsSentAreNotSentAgainAtEveryPass(t *testing.T) {
	t0 := time.Now()
	var k killsSent
	steps := []struct {
		name   string
		task   string
		grace  time.Duration
		at     time.Duration
		forget bool
		due    bool
	}{
		{name: "first", task: "t1", grace: 30 * time.Second, due: true},
		{name: "the next pass", task: "t1", grace: 30 * time.Second, at: time.Second, due: false},
		{name: "a longer grace", task: "t1", grace: time.Minute, at: 2 * time.Second, due: false},
		{name: "another task", task: "t2", grace: 30 * time.Second, at: 2 * time.Second, due: true},
		{name: "a shorter grace", task: "t1", grace: time.Second, at: 3 * time.Second, due: true},
		{name: "the same shorter grace", task: "t1", grace: time.Second, at: 4 * time.Second, due: false},
		{name: "not resent before the grace and killResend passed", task: "t1", grace: time.Second, at: 3*time.Second + killResend, due: false},
		{name: "resent once they passed", task: "t1", grace: time.Second, at: 4*time.Second + killResend, due: true},
		{name: "forgotten with its pod", task: "t2", grace: 30 * time.Second, at: 5 * time.Second, forget: true, due: true},
	}
	for _, st := range steps {
		now := t0.Add(st.at)
		if st.forget {
			k.forget(st.task)
		}
		if got, _ := k.due(st.task, st.grace, now); got != st.due {
			t.Fatalf("%s: due %v, want %v", st.name, got, st.due)
		}
		if st.due {
			k.record(st.task, st.grace, now)
		}
	}
}

// Past maxKillsRemembered, the KILLs old enough to be sent again are forgotten.
func TestKillsSentStayBounded(t *testing.T) {
	t0 := time.Now()
	var k killsSent
	for i := range maxKillsRemembered {
		k.record(string(rune('a'+i%26))+time.Duration(i).String(), time.Second, t0)
	}
	k.record("late", time.Second, t0.Add(time.Second+killResend))
	if n := len(k.sent); n != 1 {
		t.Fatalf("%d KILLs remembered, want only the latest", n)
	}
}
