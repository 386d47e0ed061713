package podtask

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExecutorCommand(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec mesosv1alpha1.ExecutorSpec
		want string
	}{
		{"process from a uri", mesosv1alpha1.ExecutorSpec{URI: "http://repo/k8sm-executor"},
			"./k8sm-executor --runtime=process"},
		{"image with a command of its own", mesosv1alpha1.ExecutorSpec{Image: "k8sm/executor:1", Command: "/bin/k8sm-executor -v=2"},
			"/bin/k8sm-executor -v=2 --runtime=process"},
		{"kubelet with its settings, quoted", mesosv1alpha1.ExecutorSpec{URI: "/opt/k8sm-executor", Runtime: mesosv1alpha1.RuntimeKubelet,
			Kubelet: &mesosv1alpha1.KubeletRuntimeSpec{ManifestDir: "/etc/kubernetes/manifests", URL: "https://127.0.0.1:10250",
				TokenFile: "/etc/k8sm/it's a token", CAFile: "/etc/kubernetes/pki/ca.crt"}},
			"./k8sm-executor --runtime=kubelet --kubelet-manifest-dir='/etc/kubernetes/manifests' --kubelet-url='https://127.0.0.1:10250'" +
				` --kubelet-token-file='/etc/k8sm/it'\''s a token' --kubelet-ca-file='/etc/kubernetes/pki/ca.crt'`},
		{"kubelet without settings", mesosv1alpha1.ExecutorSpec{URI: "/opt/k8sm-executor", Runtime: mesosv1alpha1.RuntimeKubelet},
			"./k8sm-executor --runtime=kubelet"},
		{"kubelet verified against a server name", mesosv1alpha1.ExecutorSpec{URI: "/opt/k8sm-executor", Runtime: mesosv1alpha1.RuntimeKubelet,
			Kubelet: &mesosv1alpha1.KubeletRuntimeSpec{CAFile: "/var/lib/kubelet/pki/kubelet.crt", ServerName: "agent-1"}},
			"./k8sm-executor --runtime=kubelet --kubelet-ca-file='/var/lib/kubelet/pki/kubelet.crt' --kubelet-server-name='agent-1'"},
		{"insecure kubelet", mesosv1alpha1.ExecutorSpec{URI: "/opt/k8sm-executor", Runtime: mesosv1alpha1.RuntimeKubelet,
			Kubelet: &mesosv1alpha1.KubeletRuntimeSpec{URL: "https://10.0.0.1:10250", InsecureSkipTLSVerify: true}},
			"./k8sm-executor --runtime=kubelet --kubelet-url='https://10.0.0.1:10250' --kubelet-insecure-skip-tls-verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mc := &mesosv1alpha1.MesosCluster{}
			mc.Name = "c"
			mc.Spec.Executor = tc.spec
			info := ExecutorInfo(mc, "fw-1")
			if got := info.Command.GetValue(); got != tc.want || !info.Command.GetShell() {
				t.Errorf("command = %s (shell %t)\nwant      %s, through sh -c", got, info.Command.GetShell(), tc.want)
			}
			if info.ExecutorID.Value != ExecutorID(mc) || info.FrameworkID.GetValue() != "fw-1" {
				t.Errorf("ids = %s, %s", info.ExecutorID.Value, info.FrameworkID.GetValue())
			}
		})
	}
}

// The agent runs a shell command with the sh of the container's own filesystem, and the
// image the Dockerfile builds holds the executor alone: an image's executor is started
// without a shell, its flags as arguments (argv[0] first, as Mesos takes them). For the
// kubelet runtime the container gets the kubelet's files at their host paths.
func TestAnImagesExecutorStartsWithoutAShell(t *testing.T) {
	for _, tc := range []struct {
		name    string
		spec    mesosv1alpha1.ExecutorSpec
		args    []string
		volumes []string // container path:mode
	}{
		{"process", mesosv1alpha1.ExecutorSpec{Image: "k8sm/executor:1"},
			[]string{"/k8sm-executor", "--runtime=process"}, nil},
		{"kubelet with its settings, unquoted", mesosv1alpha1.ExecutorSpec{Image: "k8sm/executor:1", Runtime: mesosv1alpha1.RuntimeKubelet,
			Kubelet: &mesosv1alpha1.KubeletRuntimeSpec{ManifestDir: "/srv/manifests", URL: "https://127.0.0.1:10250",
				TokenFile: "/etc/k8sm/it's a token", CAFile: "/etc/kubernetes/pki/ca.crt"}},
			[]string{"/k8sm-executor", "--runtime=kubelet", "--kubelet-manifest-dir=/srv/manifests", "--kubelet-url=https://127.0.0.1:10250",
				"--kubelet-token-file=/etc/k8sm/it's a token", "--kubelet-ca-file=/etc/kubernetes/pki/ca.crt"},
			[]string{"/srv/manifests:RW", "/etc/k8sm/it's a token:RO", "/etc/kubernetes/pki/ca.crt:RO"}},
		{"kubelet without settings: the default manifest directory", mesosv1alpha1.ExecutorSpec{Image: "k8sm/executor:1", Runtime: mesosv1alpha1.RuntimeKubelet},
			[]string{"/k8sm-executor", "--runtime=kubelet"}, []string{DefaultManifestDir + ":RW"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mc := &mesosv1alpha1.MesosCluster{}
			mc.Name = "c"
			mc.Spec.Executor = tc.spec
			info := ExecutorInfo(mc, "fw-1")
			if info.Command.GetShell() || info.Command.GetValue() != ImageExecutor || !slices.Equal(info.Command.Arguments, tc.args) {
				t.Errorf("command = %q %q (shell %t), want %q %q without a shell", info.Command.GetValue(), info.Command.Arguments,
					info.Command.GetShell(), ImageExecutor, tc.args)
			}
			if img := info.GetContainer().GetMesos().GetImage().GetDocker().GetName(); img != tc.spec.Image {
				t.Errorf("image = %q, want %q", img, tc.spec.Image)
			}
			var vols []string
			for _, v := range info.GetContainer().GetVolumes() {
				if v.GetSource().GetType() != mesos.Volume_Source_HOST_PATH || v.GetSource().GetHostPath().GetPath() != v.ContainerPath {
					t.Errorf("volume %v: want a HOST_PATH volume at its host path", v)
				}
				vols = append(vols, v.ContainerPath+":"+v.GetMode().String())
			}
			if !slices.Equal(vols, tc.volumes) {
				t.Errorf("volumes = %q, want %q", vols, tc.volumes)
			}
		})
	}
	// Builds that started an image's executor through sh -c named it by the spec alone:
	// this one names it anew, so new pods do not go to an executor whose ExecutorInfo
	// differs ("ExecutorInfo is not compatible").
	spec := mesosv1alpha1.ExecutorSpec{Image: "k8sm/executor:1"}
	js, _ := json.Marshal(&spec)
	sum := sha256.Sum256(js)
	if executorID("c", &spec) == "k8sm-executor-c-"+hex.EncodeToString(sum[:5]) {
		t.Error("an image's executor keeps the id of the executors started through sh -c")
	}
}

// A change of spec.executor makes a new executor id, so that new pods start the new
// executor instead of failing against the running one ("ExecutorInfo is not
// compatible"); the same spec keeps its id across restarts.
func TestExecutorIDFollowsTheSpec(t *testing.T) {
	mc := &mesosv1alpha1.MesosCluster{}
	mc.Name = "c"
	mc.Spec.Executor = mesosv1alpha1.ExecutorSpec{URI: "http://repo/k8sm-executor"}
	first := ExecutorID(mc)
	if !strings.HasPrefix(first, "k8sm-executor-c-") || ExecutorID(mc.DeepCopy()) != first {
		t.Fatalf("ExecutorID = %s: want k8sm-executor-c-<hash>, the same for the same spec", first)
	}
	mc.Spec.Executor.URI = "http://repo/k8sm-executor-v2"
	if ExecutorID(mc) == first {
		t.Fatal("a new executor spec keeps the old executor id")
	}
	if got := ExecutorInfo(mc, "").ExecutorID.Value; got != ExecutorID(mc) {
		t.Fatalf("ExecutorInfo names %s, want %s", got, ExecutorID(mc))
	}
}

// A cluster read from the API server has its executor id remembered per generation: the
// same generation, its spec the same, answers from memory; the next generation, its spec
// changed, gets the id its spec makes.
func TestExecutorIDOfAGeneration(t *testing.T) {
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c", UID: "u-generations", Generation: 1}}
	mc.Spec.Executor = mesosv1alpha1.ExecutorSpec{URI: "http://repo/k8sm-executor"}
	first := ExecutorID(mc)
	if again := ExecutorID(mc.DeepCopy()); again != first {
		t.Fatalf("ExecutorID of generation 1 = %s, then %s", first, again)
	}
	next := mc.DeepCopy()
	next.Generation = 2
	next.Spec.Executor.URI = "http://repo/k8sm-executor-v2"
	want := ExecutorID(&mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: next.Spec})
	if got := ExecutorID(next); got != want || got == first {
		t.Fatalf("ExecutorID of generation 2 = %s, want %s (generation 1's %s)", got, want, first)
	}
	if got := ExecutorID(mc); got != first {
		t.Fatalf("ExecutorID of generation 1 = %s after generation 2's, want %s", got, first)
	}
}

// BenchmarkExecutorID is what a launch or a MesosTask pays for its cluster's executor id.
func BenchmarkExecutorID(b *testing.B) {
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c", UID: "u-bench", Generation: 1}}
	mc.Spec.Executor.Image = "k8sm/executor:v1"
	b.ReportAllocs()
	for b.Loop() {
		_ = ExecutorID(mc)
	}
}

// spec.executor.shutdownGracePeriod goes to the agent as the executor's
// shutdown_grace_period, under a new executor id (the running executor's ExecutorInfo
// has none); unset, the ExecutorInfo has none and the id is the one before the field.
func TestTheExecutorsShutdownGracePeriod(t *testing.T) {
	mc := &mesosv1alpha1.MesosCluster{}
	mc.Name = "c"
	mc.Spec.Executor = mesosv1alpha1.ExecutorSpec{URI: "http://repo/k8sm-executor", Runtime: mesosv1alpha1.RuntimeProcess}
	unset := ExecutorInfo(mc, "")
	if unset.ShutdownGracePeriod != nil {
		t.Fatalf("without shutdownGracePeriod the ExecutorInfo says %v", unset.ShutdownGracePeriod)
	}
	// The id a cluster's executors had before the field was there (a hash of the spec's JSON).
	if want := "k8sm-executor-c-54962e4f0f"; unset.ExecutorID.Value != want {
		t.Errorf("without shutdownGracePeriod the executor id is %s, want the one running executors have, %s", unset.ExecutorID.Value, want)
	}
	mc.Spec.Executor.ShutdownGracePeriod = &metav1.Duration{Duration: 90 * time.Second}
	set := ExecutorInfo(mc, "")
	if g := set.ShutdownGracePeriod; g == nil || g.Nanoseconds != int64(90*time.Second) {
		t.Fatalf("the ExecutorInfo's shutdown_grace_period is %v, want 90s", g)
	}
	if set.ExecutorID.Value == unset.ExecutorID.Value {
		t.Error("a shutdownGracePeriod keeps the executor id of the ExecutorInfo without one")
	}
}
