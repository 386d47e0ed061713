package executor

import (
	"context"
	"errors"
	"sort"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	corev1 "k8s.io/api/core/v1"
)

// MessageHandler takes what the executor learns for its other parts: the agent it
// subscribed to, and the framework's messages (internal/agentmsg), which Mesos relays
// from the manager. Both are called on the event loop, and must not block it.
type MessageHandler interface {
	// Subscribed is called after each subscription to the agent (the first, and each
	// after the agent restarted), with the agent's info.
	Subscribed(agent mesos.AgentInfo)
	// Message is called with each framework message's data.
	Message(data []byte)
}

// errNotSubscribed: the executor has no connection to the agent yet.
var errNotSubscribed = errors.New("the executor has not subscribed to its agent yet")

// SendMessage sends data to the framework's scheduler (the executor's MESSAGE call),
// which Mesos relays through the master and does not store: it is lost if the manager
// is not connected. The agent takes it only from a subscribed executor.
func (e *Executor) SendMessage(ctx context.Context, data []byte) error {
	e.mu.Lock()
	sender := e.sender
	e.mu.Unlock()
	if sender == nil {
		return errNotSubscribed
	}
	return calls.SendNoData(ctx, sender, calls.NonStreaming(calls.Message(data)))
}

// Pods returns the pods the executor runs (launched, and not forgotten after their end),
// each with the status its runtime last reported, sorted by namespace and name: what the
// kubelet API's /pods lists for a runtime that is no kubeletapi.Provider.
func (e *Executor) Pods() []corev1.Pod {
	e.mu.Lock()
	tasks := make([]*task, 0, len(e.tasks))
	for _, t := range e.tasks {
		tasks = append(tasks, t)
	}
	e.mu.Unlock()
	pods := make([]corev1.Pod, 0, len(tasks))
	for _, t := range tasks {
		t.mu.Lock()
		if t.pod != nil {
			pods = append(pods, *t.pod.DeepCopy())
		}
		t.mu.Unlock()
	}
	sort.Slice(pods, func(i, j int) bool {
		if pods[i].Namespace != pods[j].Namespace {
			return pods[i].Namespace < pods[j].Namespace
		}
		return pods[i].Name < pods[j].Name
	})
	return pods
}
