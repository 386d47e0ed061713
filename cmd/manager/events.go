package main

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
)

// eventRecorders makes the manager's event recorders. Events are sent as protobuf:
// the manager records three for every pod it runs, and a protobuf Event costs the API
// server less to decode than the JSON that controller-runtime's own recorder sends.
type eventRecorders struct {
	broadcaster events.EventBroadcaster
	scheme      *runtime.Scheme
	stop        context.CancelFunc
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
	ctx, cancel := context.WithCancel(context.Background())
	e := &eventRecorders{broadcaster: events.NewBroadcaster(&events.EventSinkImpl{Interface: cs}), scheme: mgr.GetScheme(), stop: cancel}
	// Recording starts now, not when the manager starts its runnables, so that no event a
	// controller records early is dropped.
	if err := e.broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		cancel()
		return nil, fmt.Errorf("starting the event recorder: %w", err)
	}
	if err := mgr.Add(e); err != nil {
		cancel()
		return nil, err
	}
	return e, nil
}

// For is the recorder of one component (the events' reportingController).
func (e *eventRecorders) For(name string) events.EventRecorder {
	return e.broadcaster.NewRecorder(e.scheme, name)
}

// Start waits for the manager to stop, then stops sending events.
func (e *eventRecorders) Start(ctx context.Context) error {
	<-ctx.Done()
	e.broadcaster.Shutdown()
	e.stop()
	return nil
}

// NeedLeaderElection: every replica records the events of what it does.
func (e *eventRecorders) NeedLeaderElection() bool { return false }
