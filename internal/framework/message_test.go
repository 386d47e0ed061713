package framework

import (
	"context"
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
