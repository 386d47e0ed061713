// Package eventrecord sends the manager's events to the API server.
//
// client-go's events broadcaster keeps a copy of every event it sent for six minutes, to
// count one that repeats as a series (one Event, its count raised) instead of writing it
// again. The manager records a Normal event at each step of a pod's life (Scheduled,
// Running, Finished...), once per pod: at 10,000 pods those copies were about 17 MB of
// live heap, kept for nothing. So a Normal event about a Pod or a MesosTask is sent as it
// is, and forgotten once written; every other event (a Warning, which repeats while its
// cause lasts; an event about a MesosCluster or a Node, of which there are few) goes
// through the broadcaster, and repeats are counted.
package eventrecord

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/record/util"
	"k8s.io/client-go/tools/reference"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// The tries of an event sent as it is, and the wait between them: as client-go's
// broadcaster does (an API server that does not answer is waited for about two minutes).
const (
	maxTries   = 12
	retryAfter = 10 * time.Second
)

// Recorders makes the recorders of the manager's components, all sending to one sink.
type Recorders struct {
	broadcaster events.EventBroadcaster
	sink        events.EventSink
	scheme      *runtime.Scheme
	log         logr.Logger
	hostname    string
	// retryAfter is the wait between tries of an event sent as it is.
	retryAfter time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	// mu guards stopped: no send starts once Shutdown waits for those under way.
	mu      sync.Mutex
	stopped bool
	sends   sync.WaitGroup
}

// New starts sending events to sink; Shutdown stops it.
func New(sink events.EventSink, scheme *runtime.Scheme, log logr.Logger) (*Recorders, error) {
	return newRecorders(sink, scheme, log, retryAfter)
}

func newRecorders(sink events.EventSink, scheme *runtime.Scheme, log logr.Logger, wait time.Duration) (*Recorders, error) {
	hostname, _ := os.Hostname()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Recorders{broadcaster: events.NewBroadcaster(sink), sink: sink, scheme: scheme, log: log,
		hostname: hostname, retryAfter: wait, ctx: ctx, cancel: cancel}
	if err := r.broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		cancel()
		return nil, fmt.Errorf("starting the event recorder: %w", err)
	}
	return r, nil
}

// For is the recorder of one component: name is the events' reportingController, and,
// with the host's name, their reportingInstance (as client-go's recorders name them).
func (r *Recorders) For(name string) events.EventRecorder {
	return &recorder{Recorders: r, series: r.broadcaster.NewRecorder(r.scheme, name),
		controller: name, instance: name + "-" + r.hostname}
}

// Shutdown stops sending: events not written yet, and those recorded after, are dropped.
func (r *Recorders) Shutdown() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.broadcaster.Shutdown()
	r.cancel()
	r.sends.Wait()
}

// recorder is one component's recorder.
type recorder struct {
	*Recorders
	series               events.EventRecorder
	controller, instance string
}

// Eventf records an event: a Normal one about a Pod or a MesosTask is sent as it is, any
// other through the broadcaster.
func (r *recorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	if eventtype != corev1.EventTypeNormal || !manyOf(regarding) {
		r.series.Eventf(regarding, related, eventtype, reason, action, note, args...)
		return
	}
	ev, err := r.event(regarding, related, eventtype, reason, action, fmt.Sprintf(note, args...))
	if err != nil {
		r.log.Error(err, "Not recording an event", "reason", reason)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	r.sends.Add(1)
	go r.send(ev)
}

// manyOf says whether obj is of a kind the manager has one of per pod.
func manyOf(obj runtime.Object) bool {
	switch obj.(type) {
	case *corev1.Pod, *mesosv1alpha1.MesosTask:
		return true
	}
	return false
}

// event is the Event client-go's recorder would make of the same call.
func (r *recorder) event(regarding, related runtime.Object, eventtype, reason, action, note string) (*eventsv1.Event, error) {
	now := time.Now()
	ref, err := reference.GetReference(r.scheme, regarding)
	if err != nil {
		return nil, err
	}
	var relatedRef *corev1.ObjectReference
	if related != nil {
		// As client-go's recorder: an event whose related object has no reference goes
		// without one.
		relatedRef, _ = reference.GetReference(r.scheme, related)
	}
	ns := ref.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: util.GenerateEventName(ref.Name, now.UnixNano()), Namespace: ns},
		EventTime:           metav1.MicroTime{Time: now},
		ReportingController: r.controller,
		ReportingInstance:   r.instance,
		Action:              action,
		Reason:              reason,
		Regarding:           *ref,
		Related:             relatedRef,
		Note:                note,
		Type:                eventtype,
	}, nil
}

// send creates ev, trying again while the API server cannot be reached; an event the
// API server refuses is dropped (it would refuse it again), as client-go's broadcaster
// drops it.
func (r *recorder) send(ev *eventsv1.Event) {
	defer r.sends.Done()
	for try := 1; ; try++ {
		_, err := r.sink.Create(r.ctx, ev)
		if err == nil {
			return
		}
		if !retriable(err) || try == maxTries {
			r.log.Error(err, "Dropping an event the API server did not take", "reason", ev.Reason,
				"namespace", ev.Namespace, "object", ev.Regarding.Name, "tries", try)
			return
		}
		select {
		case <-r.ctx.Done():
			return
		case <-time.After(wait.Jitter(r.retryAfter, 0.25)):
		}
	}
}

// retriable says whether an event's create may succeed if tried again: not when the API
// server answered it, nor when the request could not be made.
func retriable(err error) bool {
	var status apierrors.APIStatus
	var construction *rest.RequestConstructionError
	return !errors.As(err, &status) && !errors.As(err, &construction)
}
