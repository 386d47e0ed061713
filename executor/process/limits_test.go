package process

import (
	"testing"

	"github.com/k8sm/k8sm/internal/podtask"
)

// The runtime reports the condition under its type and the manager carries it to the
// Pod under its own: they must be one type, or a pod whose limits are not enforced would
// never be told.
func TestTheLimitsConditionIsTheManagers(t *testing.T) {
	if ConditionResourceLimitsEnforced != podtask.ConditionResourceLimitsEnforced {
		t.Fatalf("the runtime reports %q, the manager carries %q", ConditionResourceLimitsEnforced, podtask.ConditionResourceLimitsEnforced)
	}
}
