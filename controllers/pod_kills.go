package controllers

import (
	"math"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/internal/podtask"
)

// killResend is how long after its grace period a deleted pod's KILL, with the same
// grace period, is sent again when its task has not ended: the KILL may have been lost
// (its agent away, or the master failing over). It is also how often one that may have
// reached nothing goes again (sentKill.reached).
const killResend = 10 * time.Second

// killsSent remembers the KILLs the Pod reconciler sent lately, by task id. Each write
// about a deleted pod (its MesosTask going Killing, its status) starts another pass over
// it, and each pass sent the KILL again: 4–5 KILLs to the master per deleted pod. A KILL
// goes again only with a shorter grace period (a second delete), or once its grace
// period and killResend have passed; but one that may have reached nothing goes again
// after killResend, and as soon as the task can be reached (sentKill.reached). The zero
// value is ready to use.
type killsSent struct {
	mu   sync.Mutex
	sent map[string]sentKill
}

type sentKill struct {
	grace time.Duration
	at    time.Time
	// reached: the KILL went to a task Mesos had reported, and could reach. Mesos answers
	// the KILL of a task it does not know yet (its ACCEPT still on the way: the KILL
	// overtook it) or cannot reach (its agent unreachable) as a reconciliation, and
	// forgets it; it drops the one it kept for a disconnected agent once it finds the
	// agent unreachable. The task then runs on, as launched or as its agent comes back.
	reached bool
}

// maxKillsRemembered bounds the memory: beyond it, the KILLs that would be sent again
// anyway are forgotten.
const maxKillsRemembered = 4096

// due says whether a KILL of the task with grace is to be sent at now, and if not, how
// long until it is. reaches says whether a KILL would reach the task now: one sent
// before may have reached nothing once it cannot.
func (k *killsSent) due(taskID string, grace time.Duration, reaches bool, now time.Time) (bool, time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s, ok := k.sent[taskID]
	switch {
	case !ok || grace < s.grace:
		return true, 0
	case !reaches:
		if s.reached {
			s.reached = false
			k.sent[taskID] = s
		}
		wait := s.at.Add(killResend).Sub(now)
		return wait <= 0, wait
	case !s.reached:
		return true, 0 // it may have reached nothing, and can reach the task now
	}
	wait := s.at.Add(afterGrace(s.grace)).Sub(now)
	return wait <= 0, wait
}

// killGrace is the grace period of a deleted pod's KILL: its deletion's, 30 s without
// one, and at most what a kill policy (and a Duration) holds: `kubectl delete
// --grace-period` takes any number of seconds.
func killGrace(pod *corev1.Pod) time.Duration {
	if pod.DeletionGracePeriodSeconds == nil {
		return corev1.DefaultTerminationGracePeriodSeconds * time.Second
	}
	return time.Duration(min(max(*pod.DeletionGracePeriodSeconds, 0), podtask.MaxGracePeriodSeconds)) * time.Second
}

// afterGrace is grace and killResend, at most the longest Duration: a grace period of
// some 292 years (the most a kill policy holds) would overflow, and its KILL go again
// at every pass.
func afterGrace(grace time.Duration) time.Duration {
	if grace > math.MaxInt64-killResend {
		return math.MaxInt64
	}
	return grace + killResend
}

// record remembers a KILL sent at now, and says when to look at its task again: once its
// grace period and killResend have passed, or, for a KILL that may reach nothing (see
// sentKill.reached), after killResend.
func (k *killsSent) record(taskID string, grace time.Duration, reached bool, now time.Time) time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sent == nil {
		k.sent = map[string]sentKill{}
	}
	if len(k.sent) >= maxKillsRemembered {
		for id, s := range k.sent {
			if now.Sub(s.at) >= afterGrace(s.grace) {
				delete(k.sent, id)
			}
		}
	}
	k.sent[taskID] = sentKill{grace: grace, at: now, reached: reached}
	if !reached {
		return killResend
	}
	return afterGrace(grace)
}

// forget drops what is remembered of a task's KILLs, once its pod is gone.
func (k *killsSent) forget(taskID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.sent, taskID)
}
