package taskstore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// changeOf describes a change: the name, and what it was.
func changeOf(ch Change) string {
	switch {
	case ch.Old == nil:
		return "added " + ch.New.Name
	case ch.New == nil:
		return "removed " + ch.Old.Name
	}
	return "changed " + ch.New.Name
}

func TestFollowingFromASnapshotGivesEveryLaterChangeOnce(t *testing.T) {
	ts := newTestStore(t, interceptor.Funcs{}, task("ns", "a", "id-a", "c"))
	ctx := context.Background()
	items, revs, rev := ts.s.Snapshot(func(*mesosv1alpha1.MesosTask) bool { return true })
	if len(items) != 1 || revs[0] == 0 || revs[0] > rev {
		t.Fatalf("snapshot: %d items at %v, revision %d", len(items), revs, rev)
	}
	// Changes between the snapshot and the follow come as the backlog.
	if err := ts.c.Create(ctx, task("ns", "b", "id-b", "c")); err != nil {
		t.Fatal(err)
	}
	backlog, f, err := ts.s.Follow(rev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	if len(backlog) != 1 || changeOf(backlog[0]) != "added b" || backlog[0].Rev != rev+1 {
		t.Fatalf("backlog: %+v", backlog)
	}
	// Later ones through the channel, in order, each at its revision.
	b := ts.s.Get(types.NamespacedName{Namespace: "ns", Name: "b"}).DeepCopy()
	b.Labels = map[string]string{"x": "y"}
	if err := ts.c.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := ts.api.Delete(ctx, task("ns", "a", "", "")); err != nil {
		t.Fatal(err)
	}
	ts.s.remove(types.NamespacedName{Namespace: "ns", Name: "a"}, "")
	var got []string
	last := backlog[0].Rev
	for range 2 {
		ch := <-f.C
		if ch.Rev != last+1 {
			t.Errorf("%s at revision %d after %d", changeOf(ch), ch.Rev, last)
		}
		last = ch.Rev
		got = append(got, changeOf(ch))
	}
	if got[0] != "changed b" || got[1] != "removed a" {
		t.Errorf("followed %v", got)
	}
	if held := ts.s.Get(types.NamespacedName{Namespace: "ns", Name: "b"}); ts.s.RevisionOf(held) != last-1 {
		t.Errorf("b's revision %d, its change's %d", ts.s.RevisionOf(held), last-1)
	}
	if ts.s.Revision() != last {
		t.Errorf("the Store's revision %d, its last change's %d", ts.s.Revision(), last)
	}
}

func TestFollowRefusesRevisionsItCannotAnswerFrom(t *testing.T) {
	ts := newTestStore(t, interceptor.Funcs{})
	ctx := context.Background()
	first := ts.s.Revision()
	for i := range recentChanges + 1 {
		if err := ts.c.Create(ctx, task("ns", fmt.Sprintf("t-%d", i), "", "c")); err != nil {
			t.Fatal(err)
		}
	}
	for name, rev := range map[string]uint64{
		"forgotten":     first,
		"in the future": ts.s.Revision() + 1,
		"another's":     first - 1_000_000_000,
	} {
		if _, _, err := ts.s.Follow(rev); !errors.Is(err, ErrExpired) {
			t.Errorf("%s revision: %v, want ErrExpired", name, err)
		}
	}
	if backlog, f, err := ts.s.Follow(first + 1); err != nil || len(backlog) != recentChanges {
		t.Errorf("the oldest remembered: %d changes, %v", len(backlog), err)
	} else {
		f.Stop()
	}
}

func TestAFollowerThatFallsBehindIsDropped(t *testing.T) {
	ts := newTestStore(t, interceptor.Funcs{})
	_, f, err := ts.s.Follow(ts.s.Revision())
	if err != nil {
		t.Fatal(err)
	}
	for i := range followerBuffer + 1 {
		if err := ts.c.Create(context.Background(), task("ns", fmt.Sprintf("t-%d", i), "", "c")); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for range f.C {
		n++
	}
	if n != followerBuffer {
		t.Errorf("got %d changes before the channel closed, want %d", n, followerBuffer)
	}
	f.Stop() // after being dropped: no panic
}
