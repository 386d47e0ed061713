package controllers

import (
	"sync"
	"time"
)

// killResend is how long after its grace period a deleted pod's KILL, with the same
// grace period, is sent again when its task has not ended: the KILL may have been lost
// (its agent away, or the master failing over).
const killResend = 10 * time.Second

// killsSent remembers the KILLs the Pod reconciler sent lately, by task id. Each write
// about a deleted pod (its MesosTask going Killing, its status) starts another pass over
// it, and each pass sent the KILL again: 4–5 KILLs to the master per deleted pod. A KILL
// goes again only with a shorter grace period (a second delete), or once its grace
// period and killResend have passed. The zero value is ready to use.
type killsSent struct {
	mu   sync.Mutex
	sent map[string]sentKill
}

type sentKill struct {
	grace time.Duration
	at    time.Time
}

// maxKillsRemembered bounds the memory: beyond it, the KILLs that would be sent again
// anyway are forgotten.
const maxKillsRemembered = 4096

// due says whether a KILL of the task with grace is to be sent at now, and if not, how
// long until it is.
func (k *killsSent) due(taskID string, grace time.Duration, now time.Time) (bool, time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s, ok := k.sent[taskID]
	if !ok || grace < s.grace {
		return true, 0
	}
	wait := s.at.Add(s.grace + killResend).Sub(now)
	return wait <= 0, wait
}

// record remembers a KILL sent at now.
func (k *killsSent) record(taskID string, grace time.Duration, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sent == nil {
		k.sent = map[string]sentKill{}
	}
	if len(k.sent) >= maxKillsRemembered {
		for id, s := range k.sent {
			if now.Sub(s.at) >= s.grace+killResend {
				delete(k.sent, id)
			}
		}
	}
	k.sent[taskID] = sentKill{grace: grace, at: now}
}

// forget drops what is remembered of a task's KILLs, once its pod is gone.
func (k *killsSent) forget(taskID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.sent, taskID)
}
