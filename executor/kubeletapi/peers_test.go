package kubeletapi

import (
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

func TestPodRoute(t *testing.T) {
	for _, tc := range []struct {
		path            string
		namespace, name string
		uid             types.UID
		ok              bool
	}{
		{path: "/containerLogs/ns/p/c", namespace: "ns", name: "p", ok: true},
		{path: "/exec/ns/p/c", namespace: "ns", name: "p", ok: true},
		{path: "/exec/ns/p/u1/c", namespace: "ns", name: "p", uid: "u1", ok: true},
		{path: "/attach/ns/p/u1/c", namespace: "ns", name: "p", uid: "u1", ok: true},
		{path: "/run/ns/p/c", namespace: "ns", name: "p", ok: true},
		{path: "/portForward/ns/p", namespace: "ns", name: "p", ok: true},
		{path: "/portForward/ns/p/u1", namespace: "ns", name: "p", uid: "u1", ok: true},
		{path: "/pods"},
		{path: "/stats/summary"},
		{path: "/healthz"},
		{path: "/containerLogs/ns/p"},
		{path: "/exec/ns/p/u1/c/extra"},
	} {
		ns, name, uid, ok := podRoute(tc.path)
		if ns != tc.namespace || name != tc.name || uid != tc.uid || ok != tc.ok {
			t.Errorf("podRoute(%q) = %q %q %q %v, want %q %q %q %v", tc.path, ns, name, uid, ok, tc.namespace, tc.name, tc.uid, tc.ok)
		}
	}
}
