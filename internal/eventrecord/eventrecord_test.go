package eventrecord

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// sink records what reaches the API server; the first fail creates fail with err.
type sink struct {
	mu      sync.Mutex
	created []*eventsv1.Event
	patched []*eventsv1.Event
	tries   int
	fail    int
	err     error
}

func (s *sink) Create(_ context.Context, ev *eventsv1.Event) (*eventsv1.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tries++
	if s.tries <= s.fail {
		return nil, s.err
	}
	s.created = append(s.created, ev.DeepCopy())
	return ev, nil
}

func (s *sink) Update(_ context.Context, ev *eventsv1.Event) (*eventsv1.Event, error) {
	return ev, nil
}

func (s *sink) Patch(_ context.Context, ev *eventsv1.Event, _ []byte) (*eventsv1.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.patched = append(s.patched, ev.DeepCopy())
	return ev, nil
}

// written is how many events were created and patched.
func (s *sink) written() (created, patched int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.created), len(s.patched)
}

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := mesosv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func start(t *testing.T, s *sink) *Recorders {
	t.Helper()
	r, err := newRecorders(s, testScheme(t), logr.Discard(), time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Shutdown)
	return r
}

// waitFor waits until the sink holds created and patched events, and a little longer,
// to see that no more come.
func waitFor(t *testing.T, s *sink, created, patched int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, p := s.written()
		if c == created && p == patched {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("created %d and patched %d events, want %d and %d", c, p, created, patched)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if c, p := s.written(); c != created || p != patched {
		t.Fatalf("then created %d and patched %d events, want %d and %d", c, p, created, patched)
	}
}

var (
	pod     = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "pod-uid", ResourceVersion: "7"}}
	task    = &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "task-uid"}}
	cluster = &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "prod", UID: "mc-uid"}}
	node    = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "agent-1", UID: "node-uid"}}
)

// The same event recorded twice: a Normal one about a Pod or a MesosTask is written
// twice, as it is; any other is written once and then counted as a series (a patch), by
// client-go's broadcaster.
func TestWhichEventsAreCountedAsSeries(t *testing.T) {
	for _, tc := range []struct {
		name             string
		regarding        runtime.Object
		eventtype        string
		created, patched int
	}{
		{"a Normal event about a pod", pod, corev1.EventTypeNormal, 2, 0},
		{"a Normal event about a MesosTask", task, corev1.EventTypeNormal, 2, 0},
		{"a Warning about a pod", pod, corev1.EventTypeWarning, 1, 1},
		{"a Normal event about a MesosCluster", cluster, corev1.EventTypeNormal, 1, 1},
		{"a Normal event about a Node", node, corev1.EventTypeNormal, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sink{}
			rec := start(t, s).For("k8sm-test")
			rec.Eventf(tc.regarding, nil, tc.eventtype, "Happened", "Do", "It happened to %s", "it")
			waitFor(t, s, 1, 0)
			rec.Eventf(tc.regarding, nil, tc.eventtype, "Happened", "Do", "It happened to %s", "it")
			waitFor(t, s, tc.created, tc.patched)
		})
	}
}

// An event sent as it is carries what client-go's recorder puts in it.
func TestAnEventSentAsItIsIsWhatClientGoWouldWrite(t *testing.T) {
	s := &sink{}
	start(t, s).For("k8sm-scheduler").Eventf(pod, task, corev1.EventTypeNormal, "Running", "Run", "Task %s is running", "t1")
	waitFor(t, s, 1, 0)
	ev := s.created[0]
	hostname, _ := os.Hostname()
	want := eventsv1.Event{
		ReportingController: "k8sm-scheduler",
		ReportingInstance:   "k8sm-scheduler-" + hostname,
		Action:              "Run",
		Reason:              "Running",
		Type:                corev1.EventTypeNormal,
		Note:                "Task t1 is running",
		Regarding:           corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "ns", Name: "web", UID: "pod-uid", ResourceVersion: "7"},
		Related: &corev1.ObjectReference{Kind: "MesosTask", APIVersion: mesosv1alpha1.GroupVersion.String(),
			Namespace: "ns", Name: "web", UID: "task-uid"},
	}
	got := *ev
	got.ObjectMeta, got.EventTime = metav1.ObjectMeta{}, metav1.MicroTime{}
	if got.String() != want.String() {
		t.Errorf("event\n%v\nwant\n%v", got.String(), want.String())
	}
	if ev.Namespace != "ns" || !strings.HasPrefix(ev.Name, "web.") || ev.EventTime.IsZero() {
		t.Errorf("event %s/%s at %v, want one in ns named web.<time> with its time", ev.Namespace, ev.Name, ev.EventTime)
	}
}

// An event sent as it is is tried again while the API server cannot be reached, and not
// when the API server refuses it.
func TestAnEventSentAsItIsIsTriedAgainOnlyWhenItMaySucceed(t *testing.T) {
	for _, tc := range []struct {
		name           string
		err            error
		tries, created int
	}{
		{"unreachable", errors.New("connection refused"), 3, 1},
		{"refused", apierrors.NewForbidden(schema.GroupResource{Group: "events.k8s.io", Resource: "events"}, "x", errors.New("no")), 1, 0},
		{"unreachable for good", errors.New("connection refused"), maxTries, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sink{fail: 2, err: tc.err}
			if tc.created == 0 {
				s.fail = 100
			}
			r := start(t, s)
			r.For("k8sm-test").Eventf(pod, nil, corev1.EventTypeNormal, "Scheduled", "Binding", "Assigned")
			r.sends.Wait()
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.tries != tc.tries || len(s.created) != tc.created {
				t.Errorf("tried %d times, created %d events; want %d and %d", s.tries, len(s.created), tc.tries, tc.created)
			}
		})
	}
}

// Shutdown stops an event that is being tried again.
func TestShutdownStopsTryingAgain(t *testing.T) {
	s := &sink{fail: 100, err: errors.New("connection refused")}
	r, err := newRecorders(s, testScheme(t), logr.Discard(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r.For("k8sm-test").Eventf(pod, nil, corev1.EventTypeNormal, "Scheduled", "Binding", "Assigned")
	done := make(chan struct{})
	go func() { r.Shutdown(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown waited for an event tried again in an hour")
	}
}

// An event recorded after Shutdown (a controller still finishing as the manager stops)
// is dropped.
func TestAnEventRecordedAfterShutdownIsDropped(t *testing.T) {
	s := &sink{}
	r, err := newRecorders(s, testScheme(t), logr.Discard(), time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	rec := r.For("k8sm-test")
	r.Shutdown()
	rec.Eventf(pod, nil, corev1.EventTypeNormal, "Scheduled", "Binding", "Assigned")
	r.sends.Wait()
	if c, _ := s.written(); c != 0 {
		t.Fatalf("created %d events after Shutdown, want none", c)
	}
}
