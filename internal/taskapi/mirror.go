package taskapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/metrics"
)

// Mirror keeps, on a replica that does not lead, a copy of the MesosTasks the leader
// holds in memory: one watch of the leader's API, all of them first (sendInitialEvents),
// then each change, again whenever the watch ends. Once the replica leads, its Store
// starts from that copy (taskstore.Leading imports it), so that what the MesosTasks hold
// beyond the pods and Mesos (a task's history, its UID and age, the MesosTask of a pod
// gone whose task is still to be killed) outlives the leader. The copy is as the last
// event before the leader's end left it; what changed after that is made right by the
// new leader's reconciliation, as for a record remade from its pod.
type Mirror struct {
	Leader LeaderFinder
	// Relay reaches the leader as a holder of the serving certificate's key.
	Relay *Relay
	// Replicas, if set, are asked for their copy by a replica that leads with none of
	// its own (handoff.go).
	Replicas ReplicaFinder
	// Elected is closed once this replica leads: the copy is then its Store's.
	Elected <-chan struct{}
	// Retry is the wait after a watch that failed. Default 2 s.
	Retry time.Duration
	Log   logr.Logger

	mu   sync.Mutex
	held map[types.NamespacedName]*mesosv1alpha1.MesosTask
	// whole says held is a whole copy of a leader's: the end of a watch's initial events
	// was seen.
	whole bool
}

// NeedLeaderElection is false: a replica that does not lead mirrors.
func (m *Mirror) NeedLeaderElection() bool { return false }

// Start follows the leader until ctx ends or the replica leads.
func (m *Mirror) Start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-m.Elected:
			cancel()
		case <-ctx.Done():
		}
	}()
	retry := m.Retry
	if retry <= 0 {
		retry = 2 * time.Second
	}
	// Once leading (or stopped) the copy is the Store's to hold.
	defer metrics.MesosTasksCopied(-1)
	for ctx.Err() == nil {
		if err := m.follow(ctx); err != nil && ctx.Err() == nil {
			m.Log.V(1).Info("Not following the leader's MesosTasks; trying again", "error", err.Error(), "after", retry.String())
			m.Leader.Forget()
			select {
			case <-ctx.Done():
			case <-time.After(retry):
			}
		}
	}
	return nil
}

// Held is the copy: every MesosTask of the last whole copy and the changes since. None
// if no watch ever saw all of them.
func (m *Mirror) Held() []mesosv1alpha1.MesosTask {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.whole {
		return nil
	}
	out := make([]mesosv1alpha1.MesosTask, 0, len(m.held))
	for _, mt := range m.held {
		out = append(out, *mt.DeepCopy())
	}
	return out
}

// receivedEvent is one event of a watch, as the API sends it.
type receivedEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// follow watches the leader's MesosTasks until the watch ends (nil: it timed out, as
// watches do) or fails.
func (m *Mirror) follow(ctx context.Context) error {
	addr, err := m.Leader.Address(ctx)
	if err != nil {
		return err
	}
	url := "https://" + addr + versionPath + "/" + Resource +
		"?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
	body, err := m.Relay.get(ctx, url)
	if err != nil {
		return fmt.Errorf("the leader's replica (%s): %w", addr, err)
	}
	defer func() { _ = body.Close() }()
	// The initial events fill a new copy, which replaces the one held at their end.
	fresh := map[types.NamespacedName]*mesosv1alpha1.MesosTask{}
	dec := json.NewDecoder(body)
	for {
		var ev receivedEvent
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		switch ev.Type {
		case "ADDED", "MODIFIED", "DELETED":
			mt := &mesosv1alpha1.MesosTask{}
			if err := json.Unmarshal(ev.Object, mt); err != nil {
				return fmt.Errorf("a MesosTask of the leader's: %w", err)
			}
			mt.TypeMeta = metav1.TypeMeta{}
			m.apply(fresh, ev.Type == "DELETED", mt)
		case "BOOKMARK":
			var b metav1.PartialObjectMetadata
			if err := json.Unmarshal(ev.Object, &b); err != nil {
				return fmt.Errorf("a bookmark of the leader's: %w", err)
			}
			if fresh != nil && b.Annotations[initialEventsEnd] == "true" {
				m.replace(fresh, addr)
				fresh = nil
			}
		case "ERROR":
			var st metav1.Status
			_ = json.Unmarshal(ev.Object, &st)
			return fmt.Errorf("the leader's watch ended: %s", st.Message)
		}
	}
}

// apply is one change: to fresh while the initial events come, then to the copy held.
func (m *Mirror) apply(fresh map[types.NamespacedName]*mesosv1alpha1.MesosTask, deleted bool, mt *mesosv1alpha1.MesosTask) {
	key := types.NamespacedName{Namespace: mt.Namespace, Name: mt.Name}
	into := fresh
	if into == nil {
		m.mu.Lock()
		defer m.mu.Unlock()
		into = m.held
	}
	if deleted {
		delete(into, key)
	} else {
		into[key] = mt
	}
	if fresh == nil {
		metrics.MesosTasksCopied(len(into))
	}
}

// replace makes fresh the copy held.
func (m *Mirror) replace(fresh map[types.NamespacedName]*mesosv1alpha1.MesosTask, addr string) {
	m.mu.Lock()
	first := !m.whole
	m.held, m.whole = fresh, true
	metrics.MesosTasksCopied(len(fresh))
	m.mu.Unlock()
	if first {
		m.Log.Info("Keeping a copy of the leader's MesosTasks, for when this replica leads", "leader", addr, "mesostasks", len(fresh))
	}
}
