package main

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/k8sm/k8sm/internal/eventrecord"
)

// eventRecorders makes the manager's event recorders. Events are sent as protobuf:
// the manager records two for every pod it runs, and a protobuf Event costs the API
// server less to decode than the JSON that controller-runtime's own recorder sends.
type eventRecorders struct {
	*eventrecord.Recorders
}

// newEventRecorders starts sending events to the API server; the manager stops it.
func newEventRecorders(mgr ctrl.Manager, cfg *rest.Config) (*eventRecorders, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	cs, err := eventsv1client.NewForConfigAndClient(cfg, mgr.GetHTTPClient())
	if err != nil {
		return nil, fmt.Errorf("creating the events client: %w", err)
	}
	// Recording starts now, not when the manager starts its runnables, so that no event a
	// controller records early is dropped.
	r, err := eventrecord.New(&events.EventSinkImpl{Interface: cs}, mgr.GetScheme(), ctrl.Log.WithName("events"))
	if err != nil {
		return nil, err
	}
	e := &eventRecorders{Recorders: r}
	if err := mgr.Add(e); err != nil {
		r.Shutdown()
		return nil, err
	}
	return e, nil
}

// Start waits for the manager to stop, then stops sending events.
func (e *eventRecorders) Start(ctx context.Context) error {
	<-ctx.Done()
	e.Shutdown()
	return nil
}

// NeedLeaderElection: every replica records the events of what it does.
func (e *eventRecorders) NeedLeaderElection() bool { return false }
