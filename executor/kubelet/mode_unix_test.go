//go:build unix

package kubelet

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/executor"

	"github.com/k8sm/k8sm/internal/testio"
)

// The logs kept of an ended pod hold whatever its containers printed: the pod's
// sandbox, where they are kept, is the executor's alone, as the process runtime's logs
// are, so that no other user of the agent lists or reads them without pods/log.
func TestTheKeptLogsOfAnEndedPodArePrivate(t *testing.T) {
	testio.Umask0(t)
	_, k, sandbox := startAPIPod(t)
	endPodKeepingItsLog(t, k, sandbox)
	testio.PrivateTree(t, sandbox)
}

// A static pod manifest carries the pod's spec, literal env values (passwords, tokens)
// included: it is the executor's user's alone, whether written at start, over a
// temporary file a dead executor left, or rewritten with a KILL's deletion marks. The
// kubelet, which reads it, runs as root; the watchdog and the next executor's sweep,
// which read its annotations, run as the executor's user.
func TestStaticPodManifestsArePrivate(t *testing.T) {
	testio.Umask0(t)
	for _, tc := range []struct {
		name   string
		before func(t *testing.T, manifest string)
		after  func(h executor.Handle)
	}{
		{name: "written"},
		{name: "written over a dead executor's temporary file", before: func(t *testing.T, manifest string) {
			tmp := filepath.Join(filepath.Dir(manifest), "."+filepath.Base(manifest)+".tmp")
			if err := os.WriteFile(tmp, []byte("{}"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "marked for deletion", after: func(h executor.Handle) { h.Kill(time.Minute) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &fakeKubelet{}
			k.set(staticPod(corev1.PodRunning))
			srv := httptest.NewServer(k)
			defer srv.Close()
			dir := t.TempDir()
			manifest := filepath.Join(dir, ManifestFile("uid-1"))
			if tc.before != nil {
				tc.before(t, manifest)
			}
			rt := &Runtime{ManifestDir: dir, URL: srv.URL, PollInterval: 5 * time.Millisecond, Log: logr.Discard(), Done: t.Context().Done()}
			var got reports
			h, err := rt.Start(apiPod(), "", got.add)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Kill(0)
			got.wait(t, "Running", func(r executor.Report) bool { return r.Status.Phase == corev1.PodRunning })
			if tc.after != nil {
				tc.after(h)
				if readManifest(t, manifest).DeletionTimestamp == nil {
					t.Fatal("the manifest is not marked for deletion")
				}
			}
			// The directory is the kubelet's staticPodPath: its mode is the kubelet's.
			st, err := os.Stat(manifest)
			if err != nil {
				t.Fatal(err)
			}
			if perm := st.Mode().Perm(); perm&0o077 != 0 {
				t.Errorf("the manifest has mode %v: want no access for its group and other users", perm)
			}
		})
	}
}
