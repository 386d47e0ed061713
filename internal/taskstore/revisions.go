package taskstore

import (
	"errors"
	"time"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// The served MesosTasks (internal/taskapi) are read and watched at the Store's own
// revisions, not the API server's resource versions: every change the Store takes (an
// object put, one removed) gets the next revision, in the order the Store took them, so
// that a watch from a list's revision misses nothing and repeats nothing, whatever order
// the API server's answers came back in. Revisions start at the Store's creation time in
// nanoseconds: another replica's or an earlier process's are far from this one's, so a
// client that comes back to another replica with a revision it got here is told that it
// is too old (or too new), and lists again, rather than being answered from the wrong
// point.

// recentChanges is how many changes the Store remembers for watches that resume from a
// revision: enough for a client's list and then its watch, or a watch that broke and
// comes back at once; one that comes back later lists again. Each holds its objects alive
// until it is forgotten.
const recentChanges = 1024

// followerBuffer is how many changes a follower may be behind before it is dropped (its
// channel closed: a client then watches again from its last revision).
const followerBuffer = 1024

// Change is one change the Store took, at revision Rev: Old nil for an object added, New
// nil for one removed.
type Change struct {
	Rev      uint64
	Old, New *mesosv1alpha1.MesosTask
}

// ErrExpired is the error of Follow from a revision the Store no longer remembers the
// changes after, or never had.
var ErrExpired = errors.New("the revision is too old, or not this store's")

// Follower receives the Store's changes after a revision, in order, until Stop; its
// channel C is closed when it fell too far behind, or was stopped.
type Follower struct {
	C     <-chan Change
	c     chan Change
	store *Store
}

// initRevisions readies the Store's revisions: the first is its creation time.
func (s *Store) initRevisions() {
	s.base = uint64(time.Now().UnixNano())
	s.rev = s.base
	s.revs = map[*mesosv1alpha1.MesosTask]uint64{}
	s.followers = map[*Follower]struct{}{}
}

// changedLocked gives a change its revision, remembers it, and hands it to the
// followers.
func (s *Store) changedLocked(old, new *mesosv1alpha1.MesosTask) {
	s.rev++
	ch := Change{Rev: s.rev, Old: old, New: new}
	if old != nil {
		delete(s.revs, old)
	}
	if new != nil {
		s.revs[new] = s.rev
	}
	if len(s.recent) < recentChanges {
		s.recent = append(s.recent, ch)
	} else {
		s.recent[s.next] = ch
		s.next = (s.next + 1) % recentChanges
	}
	for f := range s.followers {
		select {
		case f.c <- ch:
		default:
			// Fallen behind: dropped, as the API server drops a watcher that does not
			// keep up; it watches again from the last revision it got.
			delete(s.followers, f)
			close(f.c)
		}
	}
}

// Revision is the revision of the Store's latest change.
func (s *Store) Revision() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}

// RevisionOf is the revision at which the Store took mt, 0 if it does not hold it.
func (s *Store) RevisionOf(mt *mesosv1alpha1.MesosTask) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.revs[mt]
}

// Snapshot is what the Store holds that keep says so of, in no order, with each one's
// revision, at the revision it returns: following from that revision gives every change
// after it.
func (s *Store) Snapshot(keep func(*mesosv1alpha1.MesosTask) bool) ([]*mesosv1alpha1.MesosTask, []uint64, uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var items []*mesosv1alpha1.MesosTask
	var revs []uint64
	for _, mt := range s.byKey {
		if keep(mt) {
			items = append(items, mt)
			revs = append(revs, s.revs[mt])
		}
	}
	return items, revs, s.rev
}

// Follow returns the changes after revision from that the Store remembers (backlog, in
// order) and a Follower of those to come; ErrExpired if it remembers not all of them, or
// from is not one of its revisions.
func (s *Store) Follow(from uint64) ([]Change, *Follower, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if from < s.base || from > s.rev {
		return nil, nil, ErrExpired
	}
	// The changes remembered, oldest first.
	ordered := append(append([]Change(nil), s.recent[s.next:]...), s.recent[:s.next]...)
	var backlog []Change
	if from < s.rev {
		if len(ordered) == 0 || ordered[0].Rev > from+1 {
			return nil, nil, ErrExpired
		}
		for _, ch := range ordered {
			if ch.Rev > from {
				backlog = append(backlog, ch)
			}
		}
	}
	c := make(chan Change, followerBuffer)
	f := &Follower{C: c, c: c, store: s}
	s.followers[f] = struct{}{}
	return backlog, f, nil
}

// Stop ends the Follower: its channel is closed, if it was not yet.
func (f *Follower) Stop() {
	s := f.store
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.followers[f]; ok {
		delete(s.followers, f)
		close(f.c)
	}
}
