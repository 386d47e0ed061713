package kubelet

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

// The files of the kubelet's static pod directory: how a pod's manifest is named,
// written and read.

// writeManifestLocked writes the follower's manifest, unless it is written already, the
// follower is done with it or killed, or another manifest holds the pod's name: then it
// returns that manifest. It is called with the runtime's files lock held.
func (f *follower) writeManifestLocked() (holder string, err error) {
	if f.written || f.removed || f.killed.Load() {
		return "", nil
	}
	var ends time.Time
	if holder, ends = holdsName(f.rt.ManifestDir, f.file, f.namespace, f.name); holder != "" {
		f.holderEnds = ends
		return holder, nil
	}
	if other := foreignHolder(f.rt.Log, f.rt.ManifestDir, f.namespace, f.name); other != "" {
		return "", fmt.Errorf("the agent's own static pod %s has the pod's namespace and name (%s/%s), and the kubelet runs one static pod of a name: written, the manifest could take the name from it", other, f.namespace, f.name)
	}
	if err := writeAtomic(f.file, f.manifest); err != nil {
		return "", err
	}
	f.written = true
	return "", nil
}

// holdsName returns a k8sm manifest of dir other than file whose static pod has the
// namespace and name, or "", and, when a kill marked it, when the kill's grace ends. The
// kubelet keys the static pods of its manifest directory by namespace and name
// (pkg/kubelet/config/file.go: its store's MetaNamespaceKeyFunc): of two manifests of a
// name it runs one (the file it read last), and the removal of either file removes
// whichever pod then holds the name. So a pod deleted and created again under its name
// on the agent, which has another UID and so another manifest, waits for the old one's
// manifest to go, as that pod is killed (kill.go: once its containers stopped); the
// kubelet would not start it before the old one stopped anyway.
func holdsName(dir, file, namespace, name string) (holder string, ends time.Time) {
	_ = eachManifestMeta(dir, func(other string, m *metav1.PartialObjectMetadata) {
		ns := m.Namespace
		if ns == "" {
			ns = metav1.NamespaceDefault
		}
		if holder == "" && other != file && ns == namespace && m.Name == name {
			holder = other
			if m.DeletionTimestamp != nil {
				ends = m.DeletionTimestamp.Time
			}
		}
	})
	return holder, ends
}

// foreignHolder returns a file of dir that is not k8sm's whose static pod has the
// namespace and name, or "": a static pod of the agent's own. The kubelet reads every
// file of the directory whose name does not start with a dot (up to 10 MB), and keeps
// one pod of a name: the one of the file it read last (at once the one just written,
// then, at each full read, every 20 s, the one whose file sorts last). A k8sm manifest
// of the name would have the kubelet stop the agent's pod, or run the two in turn. A
// file that is no v1 Pod holds no name.
func foreignHolder(log logr.Logger, dir, namespace, name string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".") || strings.HasPrefix(n, "k8sm-") && strings.HasSuffix(n, ".json") {
			continue
		}
		file := filepath.Join(dir, n)
		st, err := os.Stat(file) // as the kubelet does: a link to a file is read
		if err != nil || !st.Mode().IsRegular() || st.Size() > maxManifestSize {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			log.Info("Cannot read a static pod manifest of the agent's own, to tell whether it has the pod's name", "manifest", file, "error", err.Error())
			continue
		}
		var m metav1.PartialObjectMetadata
		if yaml.Unmarshal(b, &m) != nil || m.Kind != "Pod" || m.APIVersion != "v1" {
			continue
		}
		ns := m.Namespace
		if ns == "" {
			ns = metav1.NamespaceDefault
		}
		if ns == namespace && m.Name == name {
			return file
		}
	}
	return ""
}

// maxManifestSize is the largest file the kubelet reads as a static pod
// (pkg/kubelet/config/common.go: maxConfigLength).
const maxManifestSize = 10 << 20

// ManifestFile is the name of a pod's static pod manifest.
func ManifestFile(uid types.UID) string { return "k8sm-" + string(uid) + ".json" }

// manifestAnnotations reads the annotations of a static pod manifest.
func manifestAnnotations(file string) (map[string]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var p corev1.Pod
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, err
	}
	return p.Annotations, nil
}

// manifestMode is a manifest's mode: the executor's user's alone. A manifest holds the
// pod's spec, literal env values included, which only those who may read the pod see.
// Its readers are the kubelet, which runs as root, and the executor's user (the
// watchdog, Sweep and the followers read its annotations).
const manifestMode = 0o600

// writeAtomic writes a manifest through a hidden temporary file (the kubelet ignores
// hidden files), so the kubelet never reads half a manifest. The temporary file is made
// anew, never reused: one a dead executor left keeps its mode, and whatever it links to.
func writeAtomic(file string, data []byte) error {
	tmp := tempManifest(file)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, manifestMode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, file)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// tempManifest is the temporary file a manifest is written through: hidden, as the
// kubelet reads every file of its static pod directory whose name does not begin with a
// dot (pkg/kubelet/config/file.go, file_linux.go).
func tempManifest(file string) string {
	return filepath.Join(filepath.Dir(file), "."+filepath.Base(file)+".tmp")
}
