package chaos

import (
	"testing"
	"time"
)

// A resource stays busy until the end of its fault has run, not only until the time it
// was due: a fault that waited for that time alone could take the end's place.
func TestAResourceStaysBusyUntilItsFaultEnded(t *testing.T) {
	var e faultEnds
	ended := make(chan struct{})
	e.schedule("master", time.Hour, func() { close(ended) })
	// Due, its timer not run yet.
	e.mu.Lock()
	e.until["master"] = time.Now().Add(-time.Second)
	e.mu.Unlock()
	if !e.busyUntil("master").After(time.Now()) {
		t.Fatal("a resource whose fault is due but not ended counts as free")
	}
	e.run("master")
	<-ended
	if e.busyUntil("master").After(time.Now()) {
		t.Error("a resource whose fault ended counts as busy")
	}
	if !e.busyUntil("agent-1").IsZero() {
		t.Error("a resource no fault took counts as busy")
	}
}
