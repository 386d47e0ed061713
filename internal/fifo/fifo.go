// Package fifo holds a first-in first-out queue without bound that never makes its sender
// wait, for an event loop that must not be held up by whoever consumes its events.
package fifo

import "sync"

// Queue is a queue without bound; its zero value is not usable: make one with New.
type Queue[T any] struct {
	mu    sync.Mutex
	items []T
	// ready holds a token while items is not empty.
	ready chan struct{}
}

// New makes an empty queue.
func New[T any]() *Queue[T] { return &Queue[T]{ready: make(chan struct{}, 1)} }

// Ready has a token while the queue holds items: receive from it, then Pop or TakeAll.
func (q *Queue[T]) Ready() <-chan struct{} { return q.ready }

// Push adds an item at the end, without waiting.
func (q *Queue[T]) Push(v T) {
	q.mu.Lock()
	q.items = append(q.items, v)
	q.mu.Unlock()
	q.signal()
}

// Pop takes the first item, if any.
func (q *Queue[T]) Pop() (T, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var zero T
	if len(q.items) == 0 {
		return zero, false
	}
	v := q.items[0]
	q.items[0] = zero
	q.items = q.items[1:]
	if len(q.items) == 0 {
		// Drained: let the array a burst grew go, rather than keep it for ever.
		q.items = nil
	} else {
		q.signal()
	}
	return v, true
}

// TakeAll takes every item, in order.
func (q *Queue[T]) TakeAll() []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	all := q.items
	q.items = nil
	return all
}

// Len is how many items wait.
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

func (q *Queue[T]) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}
