package process

import (
	"testing"

	"github.com/k8sm/k8sm/internal/podtask"
)

// The manager sets the default user under podtask's key and the runtime reads it under
// its own: they must be one key, or every container would run as nobody whatever the
// cluster says.
func TestTheDefaultUserAnnotationIsTheManagers(t *testing.T) {
	if AnnotationDefaultUser != podtask.AnnotationDefaultUser {
		t.Fatalf("the runtime reads %q, the manager writes %q", AnnotationDefaultUser, podtask.AnnotationDefaultUser)
	}
}
