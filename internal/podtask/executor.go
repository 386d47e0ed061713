package podtask

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path"
	"strings"
	"sync"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/placement"
)

// ExecutorID is the id of a cluster's shared executor: one per agent per cluster, like
// one kubelet per node. It names the executor's spec by a hash, so that a change of
// spec.executor makes a new executor: Mesos refuses a task whose ExecutorInfo differs
// from the running executor's of the same id ("ExecutorInfo is not compatible"), so new
// pods go to the new executor while those launched before run out on the old one.
func ExecutorID(mc *mesosv1alpha1.MesosCluster) string {
	if mc.UID == "" || mc.Generation == 0 {
		return executorID(mc.Name, &mc.Spec.Executor)
	}
	key := executorIDKey{mc.UID, mc.Generation}
	if id, ok := executorIDs.Load(key); ok {
		return id.(string)
	}
	id := executorID(mc.Name, &mc.Spec.Executor)
	executorIDs.Store(key, id)
	return id
}

// executorIDs remembers the executor id of each cluster's generation, of clusters read
// from the API server (their spec is the generation's): every launch and every MesosTask
// asks for its cluster's, and hashing the spec's JSON each time was about 1% of the
// manager's CPU in a burst. A cluster's spec changes rarely, so the entries of its
// earlier generations are few and small.
var executorIDs sync.Map // executorIDKey → string

type executorIDKey struct {
	uid        types.UID
	generation int64
}

func executorID(name string, spec *mesosv1alpha1.ExecutorSpec) string {
	js, _ := json.Marshal(spec)
	if spec.URI == "" && spec.Command == "" {
		// An image's executor is started without a shell (ExecutorInfo), as builds
		// before this one did not: the executors they started keep their id.
		js = append(js, "exec"...)
	}
	sum := sha256.Sum256(js)
	return "k8sm-executor-" + name + "-" + hex.EncodeToString(sum[:5])
}

// ExecutorInfo is the ExecutorInfo every task of a cluster names. Resources are left to
// the launch, which takes them from the offer.
//
// The agent starts the executor with its command through sh -c, but for an image and no
// spec.executor.command: Mesos runs a shell command with the sh of the container's own
// filesystem (its launcher's execvp of "sh"), and the image the Dockerfile builds holds
// the executor alone, so its /k8sm-executor is started without a shell. For the kubelet
// runtime, an image's container gets the kubelet's manifest directory, token and CA
// files as HOST_PATH volumes at the same paths: the executor reads and writes them there.
func ExecutorInfo(mc *mesosv1alpha1.MesosCluster, frameworkID string) mesos.ExecutorInfo {
	spec := mc.Spec.Executor
	runtime := spec.Runtime
	if runtime == "" {
		runtime = mesosv1alpha1.RuntimeProcess
	}
	flags := executorFlags(runtime, spec.Kubelet)
	command := spec.Command
	cmd := &mesos.CommandInfo{}
	switch {
	case spec.URI != "":
		if command == "" {
			command = "./" + path.Base(spec.URI)
		}
		executable, extract := true, false
		cmd.URIs = []mesos.CommandInfo_URI{{Value: spec.URI, Executable: &executable, Extract: &extract}}
	case command == "":
		shell, value := false, ImageExecutor
		cmd.Value, cmd.Shell = &value, &shell
		cmd.Arguments = append([]string{value}, flags...)
	}
	if cmd.Value == nil {
		for _, f := range flags {
			command += " " + shellFlag(f)
		}
		shell := true
		cmd.Value, cmd.Shell = &command, &shell
	}

	info := mesos.ExecutorInfo{
		Type:       mesos.ExecutorInfo_CUSTOM,
		ExecutorID: mesos.ExecutorID{Value: ExecutorID(mc)},
		Name:       ptr("k8sm executor (" + mc.Name + ")"),
		Command:    cmd,
	}
	if frameworkID != "" {
		info.FrameworkID = &mesos.FrameworkID{Value: frameworkID}
	}
	if g := spec.ShutdownGracePeriod; g != nil {
		info.ShutdownGracePeriod = &mesos.DurationInfo{Nanoseconds: g.Nanoseconds()}
	}
	if spec.Image != "" {
		info.Container = &mesos.ContainerInfo{
			Type: mesos.ContainerInfo_MESOS.Enum(),
			Mesos: &mesos.ContainerInfo_MesosInfo{Image: &mesos.Image{
				Type:   mesos.Image_DOCKER.Enum(),
				Docker: &mesos.Image_Docker{Name: spec.Image},
			}},
			Volumes: kubeletVolumes(runtime, spec.Kubelet),
		}
	}
	return info
}

// ImageExecutor is where the executor is in the image the Dockerfile builds, which a
// cluster's spec.executor.image names.
const ImageExecutor = "/k8sm-executor"

// DefaultManifestDir is the executor's --kubelet-manifest-dir when the cluster sets none.
const DefaultManifestDir = "/etc/kubernetes/manifests"

// executorFlags are the executor's flags for the runtime, each --name=value unquoted.
func executorFlags(runtime mesosv1alpha1.ExecutorRuntime, k *mesosv1alpha1.KubeletRuntimeSpec) []string {
	flags := []string{"--runtime=" + string(runtime)}
	if runtime != mesosv1alpha1.RuntimeKubelet || k == nil {
		return flags
	}
	for _, f := range []struct{ flag, value string }{
		{"--kubelet-manifest-dir", k.ManifestDir}, {"--kubelet-url", k.URL},
		{"--kubelet-token-file", k.TokenFile}, {"--kubelet-ca-file", k.CAFile},
		{"--kubelet-server-name", k.ServerName},
	} {
		if f.value != "" {
			flags = append(flags, f.flag+"="+f.value)
		}
	}
	if k.InsecureSkipTLSVerify {
		flags = append(flags, "--kubelet-insecure-skip-tls-verify")
	}
	return flags
}

// shellFlag is a flag for sh -c: its value quoted, but the runtime's (an enum).
func shellFlag(f string) string {
	name, value, ok := strings.Cut(f, "=")
	if !ok || name == "--runtime" {
		return f
	}
	return name + "=" + shellQuote(value)
}

// kubeletVolumes are the host paths the kubelet runtime's executor uses, for a
// container with an image of its own: the manifest directory read-write, the token and
// CA files read-only. The agent needs the volume/host_path isolator for them (with
// filesystem/linux and docker/runtime, which an image needs anyway).
func kubeletVolumes(runtime mesosv1alpha1.ExecutorRuntime, k *mesosv1alpha1.KubeletRuntimeSpec) []mesos.Volume {
	if runtime != mesosv1alpha1.RuntimeKubelet {
		return nil
	}
	dir := DefaultManifestDir
	var files []string
	if k != nil {
		if k.ManifestDir != "" {
			dir = k.ManifestDir
		}
		for _, f := range []string{k.TokenFile, k.CAFile} {
			if f != "" {
				files = append(files, f)
			}
		}
	}
	vols := []mesos.Volume{hostPath(dir, mesos.RW)}
	for _, f := range files {
		vols = append(vols, hostPath(f, mesos.RO))
	}
	return vols
}

func hostPath(p string, mode mesos.Volume_Mode) mesos.Volume {
	return mesos.Volume{Mode: mode.Enum(), ContainerPath: p, Source: &mesos.Volume_Source{
		Type:     mesos.Volume_Source_HOST_PATH,
		HostPath: &mesos.Volume_Source_HostPath{Path: p},
	}}
}

// shellQuote quotes a value for the agent's sh -c.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ExecutorRequest is the executor's own resources, for placement to count once per agent.
// The MesosCluster's validation keeps them in range; out of range, they ask for the
// most a task may, which no agent offers.
func ExecutorRequest(mc *mesosv1alpha1.MesosCluster) placement.Request {
	r := placement.Request{ID: ExecutorID(mc), CPUs: 0.1, MemMB: 64}
	if q := mc.Spec.Executor.Resources.CPUs; q != nil {
		r.CPUs = cpusOf(q)
	}
	if q := mc.Spec.Executor.Resources.Memory; q != nil {
		r.MemMB = megabytesOf(q, corev1.ResourceMemory)
	}
	return r
}
