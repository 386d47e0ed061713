package fifo

import (
	"slices"
	"testing"
)

func TestQueue(t *testing.T) {
	q := New[int]()
	if _, ok := q.Pop(); ok {
		t.Fatal("an empty queue popped an item")
	}
	for i := range 5000 { // far more than any channel buffer the callers had
		q.Push(i)
	}
	select {
	case <-q.Ready():
	default:
		t.Fatal("a queue with items is not ready")
	}
	if v, ok := q.Pop(); !ok || v != 0 {
		t.Fatalf("Pop() = %d, %v; want 0, true", v, ok)
	}
	select {
	case <-q.Ready():
	default:
		t.Fatal("a queue with items left is not ready again after a Pop")
	}
	if q.Len() != 4999 {
		t.Fatalf("Len() = %d, want 4999", q.Len())
	}
	all := q.TakeAll()
	if len(all) != 4999 || !slices.IsSorted(all) || all[0] != 1 {
		t.Fatalf("TakeAll() took %d items, in order %v, first %d", len(all), slices.IsSorted(all), all[0])
	}
	if q.Len() != 0 || q.TakeAll() != nil {
		t.Fatal("the queue is not empty after TakeAll")
	}
}

// A queue drained one Pop at a time holds no array: a burst of updates must not keep its
// memory after the burst.
func TestQueueDrainedHoldsNothing(t *testing.T) {
	q := New[[64]byte]()
	for range 10000 {
		q.Push([64]byte{})
	}
	for {
		if _, ok := q.Pop(); !ok {
			break
		}
	}
	if c := cap(q.items); c != 0 {
		t.Fatalf("a drained queue keeps room for %d items", c)
	}
	q.Push([64]byte{1})
	if v, ok := q.Pop(); !ok || v[0] != 1 {
		t.Fatal("a drained queue does not take items again")
	}
}
