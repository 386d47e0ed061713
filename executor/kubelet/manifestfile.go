package kubelet

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
	if holder = holdsName(f.rt.ManifestDir, f.file, f.namespace, f.name); holder != "" {
		return holder, nil
	}
	if other := foreignHolder(f.rt.ManifestDir, f.namespace, f.name); other != "" {
		return "", fmt.Errorf("the agent's own static pod %s has the pod's namespace and name (%s/%s), and the kubelet runs one static pod of a name: written, the manifest could take the name from it", other, f.namespace, f.name)
	}
	if err := writeAtomic(f.file, f.manifest); err != nil {
		return "", err
	}
	f.written = true
	return "", nil
}

// holdsName returns a k8sm manifest of dir other than file whose static pod has the
// namespace and name, or "". The kubelet keys the static pods of its manifest directory
// by namespace and name (pkg/kubelet/config/file.go: its store's MetaNamespaceKeyFunc;
// config.go: filterInvalidPods drops a second pod of a name): of two manifests of a name
// it runs one, and the removal of either file removes whichever pod then holds the
// name. So a pod deleted and created again under its name on the agent, which has
// another UID and so another manifest, waits for the old one's manifest to go, as
// that pod is killed; the kubelet would not start it before the old one stopped anyway.
func holdsName(dir, file, namespace, name string) (holder string) {
	_ = eachManifestMeta(dir, func(other string, m *metav1.PartialObjectMetadata) {
		ns := m.Namespace
		if ns == "" {
			ns = metav1.NamespaceDefault
		}
		if holder == "" && other != file && ns == namespace && m.Name == name {
			holder = other
		}
	})
	return holder
}

// foreignHolder returns a file of dir that is not k8sm's whose static pod has the
// namespace and name, or "": a static pod of the agent's own. The kubelet reads every
// file of the directory whose name does not start with a dot, in the order of their
// names, and of two pods of a name keeps the first: a k8sm manifest of the name would
// have the kubelet stop the agent's pod, or never run the k8sm pod. A file that is no
// pod holds no name.
func foreignHolder(dir, namespace, name string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".") || strings.HasPrefix(n, "k8sm-") {
			continue
		}
		file := filepath.Join(dir, n)
		st, err := os.Stat(file) // as the kubelet does: a link to a file is read
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		var m metav1.PartialObjectMetadata
		if yaml.Unmarshal(b, &m) != nil || m.Kind != "Pod" {
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
