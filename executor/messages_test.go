package executor

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	corev1 "k8s.io/api/core/v1"
)

// recordingHandler records what the executor hands its MessageHandler.
type recordingHandler struct {
	mu         sync.Mutex
	subscribed []string
	messages   []string
}

func (h *recordingHandler) Subscribed(a mesos.AgentInfo) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subscribed = append(h.subscribed, a.Hostname)
}

func (h *recordingHandler) Message(data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.messages = append(h.messages, string(data))
}

func (h *recordingHandler) seen() (subscribed, messages int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subscribed), len(h.messages)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
	}
}

// The executor tells its MessageHandler of each subscription, with the agent, and hands
// it the framework's messages; it sends messages to the framework once subscribed.
func TestMessagesReachTheHandlerAndGoToTheFramework(t *testing.T) {
	if err := (&Executor{}).SendMessage(context.Background(), []byte("x")); !errors.Is(err, errNotSubscribed) {
		t.Fatalf("SendMessage before Run: %v", err)
	}
	a := newFakeAgent(t)
	h := &recordingHandler{}
	e := &Executor{Messages: h}
	e, _ = startExecutorWith(t, a, e)
	a.waitSubscription(t, 1)
	eventually(t, "the handler was not told of the subscription", func() bool { n, _ := h.seen(); return n == 1 })

	a.send(&mexec.Event{Type: mexec.Event_MESSAGE, Message: &mexec.Event_Message{Data: []byte(`{"kind":"Config"}`)}})
	eventually(t, "the message did not reach the handler", func() bool { _, n := h.seen(); return n == 1 })
	if h.subscribed[0] != "agent-1" || h.messages[0] != `{"kind":"Config"}` {
		t.Fatalf("handler saw %v and %v", h.subscribed, h.messages)
	}

	if err := e.SendMessage(context.Background(), []byte(`{"kind":"Hello"}`)); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	got := a.messages
	a.mu.Unlock()
	if len(got) != 1 || string(got[0]) != `{"kind":"Hello"}` {
		t.Fatalf("the agent got messages %q", got)
	}

	a.restart(false)
	a.waitSubscription(t, 2)
	eventually(t, "the handler was not told of the second subscription", func() bool { n, _ := h.seen(); return n == 2 })
}

// Pods lists the pods launched, with the status their runtime last reported.
func TestPodsListsThePodsRunning(t *testing.T) {
	a := newFakeAgent(t)
	e, _ := startExecutor(t, a, true, 5*time.Second)
	a.waitSubscription(t, 1)
	if pods := e.Pods(); len(pods) != 0 {
		t.Fatalf("Pods before a launch: %v", pods)
	}
	a.send(&mexec.Event{Type: mexec.Event_LAUNCH, Launch: &mexec.Event_Launch{Task: podTask(t, "t1")}})
	waitStates(t, a, "t1", mesos.TASK_STARTING, mesos.TASK_RUNNING)
	eventually(t, "the pod is not listed Running", func() bool {
		pods := e.Pods()
		return len(pods) == 1 && pods[0].Name == "p" && pods[0].Namespace == "ns" && pods[0].Status.Phase == corev1.PodRunning &&
			pods[0].Annotations[AnnotationTaskID] == "t1"
	})
}
