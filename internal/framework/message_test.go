package framework

import (
	"context"
	"errors"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// messageRecorder is a Handler that takes framework messages.
type messageRecorder struct {
	*recorder
	got []string
}

func (m *messageRecorder) Message(_ context.Context, agentID, executorID string, data []byte) {
	m.got = append(m.got, agentID+"/"+executorID+":"+string(data))
}

// A MESSAGE from an executor reaches a handler that takes messages, naming the agent and
// executor it came from; a handler that does not take them is not bothered.
func TestExecutorMessagesReachTheHandler(t *testing.T) {
	ev := &scheduler.Event{Type: scheduler.Event_MESSAGE, Message: &scheduler.Event_Message{
		AgentID: mesos.AgentID{Value: "a1"}, ExecutorID: mesos.ExecutorID{Value: "ex"}, Data: []byte("hi")}}
	h := &messageRecorder{recorder: newRecorder()}
	c, err := New(Config{Master: "http://127.0.0.1:1", FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm"}}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.dispatch(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if len(h.got) != 1 || h.got[0] != "a1/ex:hi" {
		t.Fatalf("messages %v, want [a1/ex:hi]", h.got)
	}
	plain, err := New(Config{Master: "http://127.0.0.1:1", FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm"}}, newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.dispatch(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
}

// A MESSAGE event without its message (only a master that is not Mesos sends one) is
// refused as malformed, wherever it comes from, and crashes nothing.
func TestAMessageWithoutItsMessageIsRefused(t *testing.T) {
	h := &messageRecorder{recorder: newRecorder()}
	c, err := New(Config{Master: "http://127.0.0.1:1", FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm"}}, h)
	if err != nil {
		t.Fatal(err)
	}
	ev := &scheduler.Event{Type: scheduler.Event_MESSAGE}
	var se *SubscribeError
	if err := c.dispatch(context.Background(), ev); !errors.As(err, &se) || se.Reason != ReasonMalformedEvent {
		t.Fatalf("dispatching a MESSAGE without its message: %v, want %s", err, ReasonMalformedEvent)
	}
	if err := checkEvent(ev); err == nil {
		t.Fatal("checkEvent let a MESSAGE without its message through")
	}
	if len(h.got) != 0 {
		t.Fatalf("messages %v, want none", h.got)
	}
}

// endings is a Scheduler that records the executors Mesos reports ended.
type endings struct {
	Scheduler
	ended []string
}

func (e *endings) ExecutorEnded(_ context.Context, agentID, executorID string) {
	e.ended = append(e.ended, agentID+"/"+executorID)
}

// A FAILURE naming an executor tells the scheduler the executor ended; one naming only
// an agent (the agent is gone) does not, and takes the agent out of the status.
func TestAnExecutorsFailureReachesTheScheduler(t *testing.T) {
	e := &endings{}
	d, err := NewDriver(Config{Master: "http://127.0.0.1:1", FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm"}}, e, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := driverHandler{d: d}
	h.Failure(context.Background(), &scheduler.Event_Failure{AgentID: &mesos.AgentID{Value: "a1"}, ExecutorID: &mesos.ExecutorID{Value: "ex"}})
	h.Failure(context.Background(), &scheduler.Event_Failure{AgentID: &mesos.AgentID{Value: "a2"}})
	if len(e.ended) != 1 || e.ended[0] != "a1/ex" {
		t.Fatalf("executors ended %v, want [a1/ex]", e.ended)
	}
}
