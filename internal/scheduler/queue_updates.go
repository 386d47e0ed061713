package scheduler

import "sync"

// updateQueue is one worker's queue of updates. It never makes the sender wait: the
// framework's event loop hands updates over, and an event loop held up by a slow API
// server would miss the master's heartbeats and lose its subscription. It needs no
// bound: an agent sends a task's next update only once the previous one is
// acknowledged, so it holds at most about one update (and one reconciliation answer)
// per task.
type updateQueue struct {
	mu    sync.Mutex
	items []statusUpdate
	// ready holds a token while items is not empty.
	ready chan struct{}
}

func newUpdateQueue() *updateQueue { return &updateQueue{ready: make(chan struct{}, 1)} }

// push adds an update at the end.
func (q *updateQueue) push(u statusUpdate) {
	q.mu.Lock()
	q.items = append(q.items, u)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop takes the first update, if any.
func (q *updateQueue) pop() (statusUpdate, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return statusUpdate{}, false
	}
	u := q.items[0]
	q.items[0] = statusUpdate{}
	q.items = q.items[1:]
	if len(q.items) > 0 {
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
	return u, true
}

// len is how many updates wait.
func (q *updateQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
