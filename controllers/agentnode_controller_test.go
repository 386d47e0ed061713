package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sm/k8sm/internal/agentnode"
)

// A Node status is written again when what the API server reads of it changes: the
// kubelet API's port among the rest, but not for a heartbeat alone.
func TestNodeStatusChanged(t *testing.T) {
	now := time.Unix(1000, 0)
	a := agentnode.Agent{ID: "a1", Hostname: "h1", KubeletAPI: agentnode.KubeletAPI{Port: 10350, Served: true}}
	old := agentnode.Status(a, true, metav1.NewTime(now), nil)
	later := now.Add(time.Second)
	for _, tc := range []struct {
		name string
		port int32
		want bool
	}{
		{"a heartbeat only", 10350, false},
		{"another kubelet API port", 10400, true},
		{"serving turned off", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := a
			b.KubeletAPI.Port = tc.port
			desired := agentnode.Status(b, true, metav1.NewTime(later), old.Conditions)
			if got := nodeStatusChanged(&old, &desired, later); got != tc.want {
				t.Errorf("nodeStatusChanged = %v, want %v", got, tc.want)
			}
		})
	}
}
