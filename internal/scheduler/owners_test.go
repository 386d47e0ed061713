package scheduler

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// The pods of written launches are remembered for ownerMemory, and no longer: a burst
// of launches must not stay in memory.
func TestWrittenOwnersAreForgottenAfterOwnerMemory(t *testing.T) {
	var w writtenOwners
	t0 := time.Now()
	pod := types.NamespacedName{Namespace: "ns", Name: "p"}
	w.add("old", pod, t0)
	w.add("recent", pod, t0.Add(ownerMemory/2))
	if len(w.pods) != 2 {
		t.Fatalf("remembered %d, want 2", len(w.pods))
	}
	w.add("new", pod, t0.Add(ownerMemory+time.Second))
	if _, ok := w.pods["old"]; ok || len(w.pods) != 2 {
		t.Errorf("remembered %v, want recent and new", w.pods)
	}
}
