package taskapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// A replica may come to lead without a copy of its own: the leader's process that
// started again (its container restarted) and took the Lease before the replica that
// kept a copy did. It then asks the other replicas for theirs: each answers copyPath,
// to a holder of the serving certificate's key, with the copy it keeps.

// copyPath is where a replica answers with the copy it keeps of the leader's MesosTasks.
const copyPath = "/k8sm/mesostasks-copy"

// askTimeout bounds the asking, which the new leader's Store waits for: a replica that
// does not answer in time is done without.
const askTimeout = 5 * time.Second

// ReplicaFinder knows where the other replicas serve the API.
type ReplicaFinder interface {
	// Others are their host:port.
	Others(ctx context.Context) ([]string, error)
}

// Kept is the copy the Store starts from once this replica leads: its own, else the
// first whole one another replica keeps; none if no replica keeps one.
func (m *Mirror) Kept(ctx context.Context) []mesosv1alpha1.MesosTask {
	if held := m.Held(); held != nil {
		return held
	}
	if m.Replicas == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, askTimeout)
	defer cancel()
	// A replica that just started may lead before it has read the certificate the
	// replicas know each other by.
	for _, err := m.Relay.Certificate(nil); err != nil; _, err = m.Relay.Certificate(nil) {
		select {
		case <-ctx.Done():
			m.Log.Info("Leading without a copy of the MesosTasks: the serving certificate, which another replica would know this one by, is not read yet", "error", err.Error())
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
	others, err := m.Replicas.Others(ctx)
	if err != nil {
		m.Log.Info("Could not look for a replica that keeps a copy of the MesosTasks; leading without one", "error", err.Error())
		return nil
	}
	for _, addr := range others {
		items, err := m.ask(ctx, addr)
		if err != nil {
			m.Log.V(1).Info("A replica kept no copy of the MesosTasks to hand on", "replica", addr, "error", err.Error())
			continue
		}
		m.Log.Info("Took the copy another replica kept of the leader's MesosTasks", "replica", addr, "mesostasks", len(items))
		return items
	}
	return nil
}

// ask is the copy the replica at addr keeps.
func (m *Mirror) ask(ctx context.Context, addr string) ([]mesosv1alpha1.MesosTask, error) {
	body, err := m.Relay.get(ctx, "https://"+addr+copyPath)
	if err != nil {
		return nil, err
	}
	defer func() { _ = body.Close() }()
	var l mesosv1alpha1.MesosTaskList
	if err := json.NewDecoder(body).Decode(&l); err != nil {
		return nil, fmt.Errorf("its copy: %w", err)
	}
	return l.Items, nil
}

// ServeHTTP answers copyPath: the copy this replica keeps, to another replica (a holder
// of the serving certificate's key that names no user). A replica that leads keeps none
// any longer: its Store holds the MesosTasks.
func (m *Mirror) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, from := m.Relay.Authenticate(r); from != peerReplica {
		writeStatus(w, apierrors.NewForbidden(groupResource, "",
			fmt.Errorf("only another replica of the manager may read the copy of the MesosTasks this one keeps")))
		return
	}
	select {
	case <-m.Elected:
		writeStatus(w, apierrors.NewNotFound(groupResource, "copy"))
		return
	default:
	}
	held := m.Held()
	if held == nil {
		writeStatus(w, apierrors.NewNotFound(groupResource, "copy"))
		return
	}
	writeJSON(w, http.StatusOK, &mesosv1alpha1.MesosTaskList{Items: held})
}

// Others are the other replicas' pods of the namespace, those with an IP and a
// container port named tasks-api, as host:port.
func (l *LeaderPods) Others(ctx context.Context) ([]string, error) {
	var pods corev1.PodList
	if err := l.Reader.List(ctx, &pods, client.InNamespace(l.Namespace)); err != nil {
		return nil, fmt.Errorf("listing the pods of %s: %w", l.Namespace, err)
	}
	var out []string
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Name == l.Self || p.DeletionTimestamp != nil || p.Status.PodIP == "" {
			continue
		}
		if port := tasksAPIPort(p, 0); port > 0 {
			out = append(out, net.JoinHostPort(p.Status.PodIP, strconv.Itoa(port)))
		}
	}
	return out, nil
}
