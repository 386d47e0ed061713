package podtask

import (
	"strings"
	"testing"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
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
		{"image", mesosv1alpha1.ExecutorSpec{Image: "k8sm/executor:1"}, "/k8sm-executor --runtime=process"},
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
			if got := info.Command.GetValue(); got != tc.want {
				t.Errorf("command = %s\nwant      %s", got, tc.want)
			}
			if info.ExecutorID.Value != ExecutorID(mc) || info.FrameworkID.GetValue() != "fw-1" {
				t.Errorf("ids = %s, %s", info.ExecutorID.Value, info.FrameworkID.GetValue())
			}
		})
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
