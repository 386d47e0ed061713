package podtask

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
	sum := sha256.Sum256(js)
	return "k8sm-executor-" + name + "-" + hex.EncodeToString(sum[:5])
}

// ExecutorInfo is the ExecutorInfo every task of a cluster names. Resources are left to
// the launch, which takes them from the offer.
func ExecutorInfo(mc *mesosv1alpha1.MesosCluster, frameworkID string) mesos.ExecutorInfo {
	spec := mc.Spec.Executor
	runtime := spec.Runtime
	if runtime == "" {
		runtime = mesosv1alpha1.RuntimeProcess
	}
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
		command = "/k8sm-executor"
	}
	command = fmt.Sprintf("%s --runtime=%s", command, runtime)
	if k := spec.Kubelet; runtime == mesosv1alpha1.RuntimeKubelet && k != nil {
		for _, f := range []struct{ flag, value string }{
			{"--kubelet-manifest-dir", k.ManifestDir}, {"--kubelet-url", k.URL},
			{"--kubelet-token-file", k.TokenFile}, {"--kubelet-ca-file", k.CAFile},
			{"--kubelet-server-name", k.ServerName},
		} {
			if f.value != "" {
				command += " " + f.flag + "=" + shellQuote(f.value)
			}
		}
		if k.InsecureSkipTLSVerify {
			command += " --kubelet-insecure-skip-tls-verify"
		}
	}
	shell := true
	cmd.Value, cmd.Shell = &command, &shell

	info := mesos.ExecutorInfo{
		Type:       mesos.ExecutorInfo_CUSTOM,
		ExecutorID: mesos.ExecutorID{Value: ExecutorID(mc)},
		Name:       ptr("k8sm executor (" + mc.Name + ")"),
		Command:    cmd,
	}
	if frameworkID != "" {
		info.FrameworkID = &mesos.FrameworkID{Value: frameworkID}
	}
	if spec.Image != "" {
		info.Container = &mesos.ContainerInfo{
			Type: mesos.ContainerInfo_MESOS.Enum(),
			Mesos: &mesos.ContainerInfo_MesosInfo{Image: &mesos.Image{
				Type:   mesos.Image_DOCKER.Enum(),
				Docker: &mesos.Image_Docker{Name: spec.Image},
			}},
		}
	}
	return info
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
