package scheduler

import (
	"context"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/k8sm/k8sm/internal/framework"
)

// Driver is what the scheduler calls on its cluster's framework connection; a
// *framework.Driver is one, and tests hand in a fake.
type Driver interface {
	FrameworkID() string
	Subscribed() bool
	// Subscription names the current subscription; SetReconciled records that Mesos
	// answered for the tasks asked about after it.
	Subscription() uint64
	SetReconciled(subscription uint64)
	Suppress(ctx context.Context) error
	Revive(ctx context.Context) error
	Decline(ctx context.Context, offerIDs []mesos.OfferID, refuse time.Duration) error
	Launch(ctx context.Context, offerIDs []mesos.OfferID, tasks []mesos.TaskInfo, refuse time.Duration) error
	Kill(ctx context.Context, taskID, agentID string, grace *time.Duration) error
	Reconcile(ctx context.Context, tasks map[string]string) error
}

var (
	_ Driver         = (*framework.Driver)(nil)
	_ executorLister = (*framework.Driver)(nil)
)
