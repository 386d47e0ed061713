package kubelet

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// k8sm places a pod by its nodeSelector and required node affinity against the agent's
// Node (mesos-<cluster>-<host>, the agent's attributes as labels); the kubelet checks
// them again against its own Node when it admits the pod (its NodeAffinity predicate,
// as the kubelet's admission calls it here), and fails a pod they do not match. The
// static pod must pass on any kubelet, while what the kubelet does not check is kept.
func TestManifestPassesTheKubeletsNodeAffinityCheck(t *testing.T) {
	// The agent's kubelet's own Node, standalone: its hostname, OS and architecture.
	kubeletNode := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "agent-1", Labels: map[string]string{
		"kubernetes.io/hostname": "agent-1", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}}}
	preferred := []corev1.PreferredSchedulingTerm{{Weight: 5, Preference: corev1.NodeSelectorTerm{
		MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "disk", Operator: corev1.NodeSelectorOpIn, Values: []string{"ssd"}}}}}}
	antiAffinity := &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
		TopologyKey: "kubernetes.io/hostname", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}}
	required := func(terms ...corev1.NodeSelectorTerm) *corev1.NodeAffinity {
		return &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}
	}
	for _, tc := range []struct {
		name         string
		selector     map[string]string
		affinity     *corev1.Affinity
		wantAffinity *corev1.Affinity
	}{
		{name: "an agent attribute as nodeSelector", selector: map[string]string{"rack": "r1"}},
		{name: "the agent's Node label", selector: map[string]string{"mesos.k8sm.io/attribute.rack": "r1", "kubernetes.io/os": "linux"}},
		{name: "a DaemonSet's pod, bound to the agent's Node by name",
			affinity: &corev1.Affinity{NodeAffinity: required(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{
				{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"mesos-c-agent-1"}}}})}},
		{name: "required node affinity on a zone, with preferred terms and pod anti-affinity",
			affinity: &corev1.Affinity{
				NodeAffinity: &corev1.NodeAffinity{
					RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
						MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "topology.kubernetes.io/zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"z1"}}}}}},
					PreferredDuringSchedulingIgnoredDuringExecution: preferred},
				PodAntiAffinity: antiAffinity},
			wantAffinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: preferred},
				PodAntiAffinity: antiAffinity}},
		{name: "pod anti-affinity alone", affinity: &corev1.Affinity{PodAntiAffinity: antiAffinity},
			wantAffinity: &corev1.Affinity{PodAntiAffinity: antiAffinity}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := apiPod()
			pod.Spec.NodeSelector, pod.Spec.Affinity = tc.selector, tc.affinity
			orig := pod.DeepCopy()
			static := manifestPod(t, pod)
			if ok, err := nodeaffinity.GetRequiredNodeAffinity(&static).Match(kubeletNode); err != nil || !ok {
				t.Errorf("the kubelet would reject the static pod (NodeAffinity: %v, %v): nodeSelector %v, affinity %+v",
					ok, err, static.Spec.NodeSelector, static.Spec.Affinity)
			}
			if !equality.Semantic.DeepEqual(static.Spec.Affinity, tc.wantAffinity) {
				t.Errorf("affinity = %+v, want %+v", static.Spec.Affinity, tc.wantAffinity)
			}
			if !equality.Semantic.DeepEqual(pod, orig) {
				t.Error("the API pod was changed")
			}
		})
	}
}

// The kubelet shows a static pod's containers the static pod: its name is
// <name>-<node name>, its UID, node name and service account its own. The containers
// must see the API pod, as on any kubelet: the downward API env fields name it, and the
// hostname is its name.
func TestManifestKeepsThePodsIdentity(t *testing.T) {
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}}
	}
	long := strings.Repeat("a", 62) + "-bcd"
	for _, tc := range []struct {
		name, podName, hostname string
		wantHostname            string
	}{
		{name: "a pod", podName: "web", wantHostname: "web"},
		{name: "a pod with its hostname", podName: "web", hostname: "www", wantHostname: "www"},
		{name: "a long name, cut as the kubelet cuts it", podName: long, wantHostname: strings.Repeat("a", 62)},
		{name: "a name with dots, left to the kubelet", podName: "web.v1", wantHostname: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := apiPod()
			pod.Name, pod.Spec.Hostname = tc.podName, tc.hostname
			pod.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", Env: []corev1.EnvVar{field("POD_NAME", "metadata.name")}}}
			pod.Spec.Containers[0].Env = []corev1.EnvVar{
				field("POD_NAME", "metadata.name"), field("POD_UID", "metadata.uid"), field("NODE", "spec.nodeName"),
				field("SA", "spec.serviceAccountName"), field("NS", "metadata.namespace"), field("IP", "status.podIP"),
				{Name: "GREETING", Value: "hello $(POD_NAME)"}}
			static := manifestPod(t, pod)
			want := []corev1.EnvVar{{Name: "POD_NAME", Value: tc.podName}, {Name: "POD_UID", Value: "uid-1"},
				{Name: "NODE", Value: "mesos-c-host"}, {Name: "SA", Value: "default"},
				field("NS", "metadata.namespace"), field("IP", "status.podIP"), {Name: "GREETING", Value: "hello $(POD_NAME)"}}
			if got := static.Spec.Containers[0].Env; !equality.Semantic.DeepEqual(got, want) {
				t.Errorf("env = %+v, want %+v", got, want)
			}
			if got := static.Spec.InitContainers[0].Env; len(got) != 1 || got[0].Value != tc.podName || got[0].ValueFrom != nil {
				t.Errorf("init container env = %+v, want POD_NAME=%s", got, tc.podName)
			}
			if static.Spec.Hostname != tc.wantHostname {
				t.Errorf("hostname = %q, want %q", static.Spec.Hostname, tc.wantHostname)
			}
			if pod.Spec.Containers[0].Env[0].ValueFrom == nil {
				t.Error("the API pod was changed")
			}
		})
	}
}
