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
	// MasterRegion is the region of the master's fault domain, "" when it has none: the
	// agents of other regions take only the pods that select a region.
	MasterRegion() string
	// Subscription names the subscription held now, 0 while none is: no other
	// subscription, of this connection or another, has its number
	// (framework.Connection.Subscription). SetReconciled records that Mesos answered for
	// the tasks asked about after it.
	Subscription() uint64
	SetReconciled(subscription uint64)
	Suppress(ctx context.Context) error
	Revive(ctx context.Context) error
	// Decline and Launch take offers that came on subscription; once it ended they send
	// nothing and return framework.ErrSubscriptionEnded.
	Decline(ctx context.Context, subscription uint64, offerIDs []mesos.OfferID, refuse time.Duration) error
	Launch(ctx context.Context, subscription uint64, offerIDs []mesos.OfferID, tasks []mesos.TaskInfo, refuse time.Duration) error
	Kill(ctx context.Context, taskID, agentID string, grace *time.Duration) error
	Reconcile(ctx context.Context, tasks map[string]string) error
}

var (
	_ Driver         = (*framework.Driver)(nil)
	_ executorLister = (*framework.Driver)(nil)
	_ taskLister     = (*framework.Driver)(nil)
	_ agentLister    = (*framework.Driver)(nil)
)
