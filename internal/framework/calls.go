package framework

import (
	"context"
	"errors"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// ErrSubscriptionEnded is returned by a call about offers whose subscription ended. Mesos
// rescinded them with it, and says nothing of that to a framework whose stream is gone;
// the call is not sent, as another subscription's ACCEPT of them would launch nothing
// (TASK_DROPPED) and void the valid offers accepted with them.
var ErrSubscriptionEnded = errors.New("the subscription the offers came on has ended")

// SendMessage sends data to an executor of the framework (the scheduler's MESSAGE call):
// Mesos relays it through the master and the agent, once, without storing it.
func (c *Connection) SendMessage(ctx context.Context, agentID, executorID string, data []byte) error {
	return c.Call(ctx, calls.Message(agentID, executorID, data))
}

// Call sends a call of the current subscription, with the framework id filled in.
func (c *Connection) Call(ctx context.Context, call *scheduler.Call) error {
	c.mu.RLock()
	caller, id := c.caller, c.frameworkID
	c.mu.RUnlock()
	if caller == nil {
		return ErrNotSubscribed
	}
	call.FrameworkID = &mesos.FrameworkID{Value: id}
	return calls.CallNoData(ctx, caller, call)
}

// callOn sends a call about offers that came on subscription: on it, or, once it ended,
// nowhere (ErrSubscriptionEnded).
func (c *Connection) callOn(ctx context.Context, subscription uint64, call *scheduler.Call) error {
	c.mu.RLock()
	caller, id, held := c.caller, c.frameworkID, c.subscription
	c.mu.RUnlock()
	if caller == nil || held != subscription {
		return ErrSubscriptionEnded
	}
	call.FrameworkID = &mesos.FrameworkID{Value: id}
	return calls.CallNoData(ctx, caller, call)
}

// Launch accepts offers (of one agent and one allocation role) that came on subscription
// with LAUNCH of the given tasks; their unused resources are filtered for refuse. Once
// that subscription ended it sends nothing and returns ErrSubscriptionEnded.
func (c *Connection) Launch(ctx context.Context, subscription uint64, offerIDs []mesos.OfferID, tasks []mesos.TaskInfo, refuse time.Duration) error {
	call := calls.Accept(calls.OfferOperations{calls.OpLaunch(tasks...)}.WithOffers(offerIDs...)).
		With(calls.RefuseSeconds(refuse))
	return c.callOn(ctx, subscription, call)
}

// Decline declines offers that came on subscription, keeping them away for refuse; once
// that subscription ended it sends nothing (Mesos took them back) and returns
// ErrSubscriptionEnded.
func (c *Connection) Decline(ctx context.Context, subscription uint64, offerIDs []mesos.OfferID, refuse time.Duration) error {
	if len(offerIDs) == 0 {
		return nil
	}
	return c.callOn(ctx, subscription, calls.Decline(offerIDs...).With(calls.RefuseSeconds(refuse)))
}

// Revive asks for offers again, clearing filters, for the framework's roles.
func (c *Connection) Revive(ctx context.Context) error {
	return c.Call(ctx, calls.ReviveWith(c.cfg.FrameworkInfo.Roles))
}

// Suppress stops offers for the framework's roles.
func (c *Connection) Suppress(ctx context.Context) error {
	return c.Call(ctx, calls.SuppressWith(c.cfg.FrameworkInfo.Roles))
}

// Kill kills a task, with a grace period when grace is not nil.
func (c *Connection) Kill(ctx context.Context, taskID, agentID string, grace *time.Duration) error {
	call := calls.Kill(taskID, agentID)
	if grace != nil {
		call.Kill.KillPolicy = &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: grace.Nanoseconds()}}
	}
	return c.Call(ctx, call)
}

// Reconcile asks for the state of the given tasks (task id → agent id, agent may be
// empty); with none it asks for every task Mesos knows of the framework.
func (c *Connection) Reconcile(ctx context.Context, tasks map[string]string) error {
	return c.Call(ctx, calls.Reconcile(calls.ReconcileTasks(tasks)))
}

// Teardown removes the framework from Mesos; Mesos kills all of its tasks.
func (c *Connection) Teardown(ctx context.Context) error {
	return c.Call(ctx, &scheduler.Call{Type: scheduler.Call_TEARDOWN})
}
