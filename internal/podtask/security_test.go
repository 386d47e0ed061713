package podtask

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// defaultSecurity is what a MesosCluster with no podSecurity gets.
var defaultSecurity = SecurityFor(&mesosv1alpha1.MesosCluster{})

func TestSecurityFor(t *testing.T) {
	uid, gid := int64(1000), int64(100)
	cases := []struct {
		name string
		mc   mesosv1alpha1.MesosClusterSpec
		want Security
	}{
		{"defaults: process runtime, nobody, root refused", mesosv1alpha1.MesosClusterSpec{},
			Security{Runtime: mesosv1alpha1.RuntimeProcess, User: 65534, Group: 65534, RefuseRoot: true}},
		{"explicit user and group, root allowed", mesosv1alpha1.MesosClusterSpec{PodSecurity: mesosv1alpha1.PodSecuritySpec{RunAsUser: &uid, RunAsGroup: &gid, RootPods: mesosv1alpha1.RootPodsAllow}},
			Security{Runtime: mesosv1alpha1.RuntimeProcess, User: 1000, Group: 100}},
		{"kubelet runtime", mesosv1alpha1.MesosClusterSpec{Executor: mesosv1alpha1.ExecutorSpec{Runtime: mesosv1alpha1.RuntimeKubelet}, PodSecurity: mesosv1alpha1.PodSecuritySpec{RootPods: mesosv1alpha1.RootPodsRefuse}},
			Security{Runtime: mesosv1alpha1.RuntimeKubelet, User: 65534, Group: 65534, RefuseRoot: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := SecurityFor(&mesosv1alpha1.MesosCluster{Spec: tc.mc}); got != tc.want {
				t.Errorf("SecurityFor = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func secPod(psc *corev1.PodSecurityContext, sc *corev1.SecurityContext) *corev1.Pod {
	return &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: psc,
		InitContainers: []corev1.Container{{Name: "init"}},
		Containers:     []corev1.Container{{Name: "c", SecurityContext: sc}}}}
}

func TestCheckSecurity(t *testing.T) {
	var (
		process     = Security{Runtime: mesosv1alpha1.RuntimeProcess, User: 65534, Group: 65534, RefuseRoot: true}
		processRoot = Security{Runtime: mesosv1alpha1.RuntimeProcess, User: 65534, Group: 65534}
		kubelet     = Security{Runtime: mesosv1alpha1.RuntimeKubelet, RefuseRoot: true}
		kubeletRoot = Security{Runtime: mesosv1alpha1.RuntimeKubelet}
		yes, no     = true, false
		root, user  = int64(0), int64(1000)
		unmasked    = corev1.UnmaskedProcMount
	)
	restricted := &corev1.SecurityContext{RunAsNonRoot: &yes, AllowPrivilegeEscalation: &no, RunAsUser: &user,
		Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	cases := []struct {
		name string
		pod  *corev1.Pod
		sec  Security
		want []string // each a substring of the error; none: allowed
	}{
		{"no securityContext", secPod(nil, nil), process, nil},
		{"restricted pod, process", secPod(&corev1.PodSecurityContext{RunAsGroup: &user, SupplementalGroups: []int64{5}, FSGroup: &user}, restricted), process, nil},
		{"restricted pod, kubelet", secPod(nil, restricted), kubelet, nil},
		{"pod runAsUser 0 refused", secPod(&corev1.PodSecurityContext{RunAsUser: &root}, nil), process,
			[]string{"spec.securityContext.runAsUser: Forbidden: this cluster refuses pods that ask for root"}},
		{"pod runAsUser 0 refused on the kubelet runtime too", secPod(&corev1.PodSecurityContext{RunAsUser: &root}, nil), kubelet,
			[]string{"spec.securityContext.runAsUser: Forbidden"}},
		{"pod runAsUser 0 allowed", secPod(&corev1.PodSecurityContext{RunAsUser: &root}, nil), processRoot, nil},
		{"container runAsUser 0 refused", secPod(nil, &corev1.SecurityContext{RunAsUser: &root}), process,
			[]string{"spec.containers[0].securityContext.runAsUser: Forbidden"}},
		{"runAsNonRoot with runAsUser 0", secPod(&corev1.PodSecurityContext{RunAsNonRoot: &yes}, &corev1.SecurityContext{RunAsUser: &root}), processRoot,
			[]string{"spec.containers[0].securityContext.runAsNonRoot: Invalid value: true: runAsUser is 0"}},
		{"pod runAsNonRoot with pod runAsUser 0", secPod(&corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &root}, nil), kubeletRoot,
			[]string{"spec.securityContext.runAsNonRoot: Invalid value"}},
		{"privileged refused", secPod(nil, &corev1.SecurityContext{Privileged: &yes}), kubelet,
			[]string{"spec.containers[0].securityContext.privileged: Forbidden: this cluster refuses"}},
		{"privileged on the process runtime", secPod(nil, &corev1.SecurityContext{Privileged: &yes}), processRoot,
			[]string{"privileged: Forbidden: the process runtime cannot run a privileged container"}},
		{"privileged allowed on the kubelet runtime", secPod(nil, &corev1.SecurityContext{Privileged: &yes}), kubeletRoot, nil},
		{"privileged: false is no ask", secPod(nil, &corev1.SecurityContext{Privileged: &no}), process, nil},
		{"capabilities.add refused", secPod(nil, &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}}), kubelet,
			[]string{"spec.containers[0].securityContext.capabilities.add: Forbidden: this cluster refuses"}},
		{"capabilities.add on the process runtime", secPod(nil, &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}}), processRoot,
			[]string{"capabilities.add: Forbidden: the process runtime only drops"}},
		{"capabilities.add allowed on the kubelet runtime", secPod(nil, &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}}), kubeletRoot, nil},
		{"readOnlyRootFilesystem", secPod(nil, &corev1.SecurityContext{ReadOnlyRootFilesystem: &yes}), process,
			[]string{"spec.containers[0].securityContext.readOnlyRootFilesystem: Forbidden"}},
		{"readOnlyRootFilesystem on the kubelet runtime", secPod(nil, &corev1.SecurityContext{ReadOnlyRootFilesystem: &yes}), kubelet, nil},
		{"container seLinuxOptions", secPod(nil, &corev1.SecurityContext{SELinuxOptions: &corev1.SELinuxOptions{Type: "t"}}), process,
			[]string{"spec.containers[0].securityContext.seLinuxOptions: Forbidden"}},
		{"pod seLinuxOptions", secPod(&corev1.PodSecurityContext{SELinuxOptions: &corev1.SELinuxOptions{Type: "t"}}, nil), process,
			[]string{"spec.securityContext.seLinuxOptions: Forbidden"}},
		{"windowsOptions", secPod(&corev1.PodSecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{}}, &corev1.SecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{}}), process,
			[]string{"spec.securityContext.windowsOptions: Forbidden", "spec.containers[0].securityContext.windowsOptions: Forbidden"}},
		{"sysctls", secPod(&corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "net.ipv4.ip_forward", Value: "1"}}}, nil), process,
			[]string{"spec.securityContext.sysctls: Forbidden"}},
		{"procMount Unmasked", secPod(nil, &corev1.SecurityContext{ProcMount: &unmasked}), process,
			[]string{"spec.containers[0].securityContext.procMount: Forbidden"}},
		{"seccomp Localhost", secPod(&corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost}}, nil), process,
			[]string{"spec.securityContext.seccompProfile.type: Forbidden"}},
		{"seccomp Unconfined is honoured", secPod(nil, &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}}), process, nil},
		{"appArmor RuntimeDefault", secPod(nil, &corev1.SecurityContext{AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeRuntimeDefault}}), process,
			[]string{"spec.containers[0].securityContext.appArmorProfile.type: Forbidden"}},
		{"appArmor Unconfined is honoured", secPod(nil, &corev1.SecurityContext{AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}}), process, nil},
		{"hostUsers: false", &corev1.Pod{Spec: corev1.PodSpec{HostUsers: &no, Containers: []corev1.Container{{Name: "c"}}}}, process,
			[]string{"spec.hostUsers: Forbidden"}},
		{"init containers are checked", &corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "i", SecurityContext: &corev1.SecurityContext{Privileged: &yes}}}, Containers: []corev1.Container{{Name: "c"}}}}, process,
			[]string{"spec.initContainers[0].securityContext.privileged: Forbidden"}},
		{"AppArmor annotation", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{annotationAppArmorPrefix + "c": "runtime/default"}}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}, process,
			[]string{"metadata.annotations[container.apparmor.security.beta.kubernetes.io/c]: Forbidden"}},
		{"AppArmor annotation unconfined", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{annotationAppArmorPrefix + "c": "unconfined"}}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}, process, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSecurity(tc.pod, tc.sec)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("CheckSecurity: %v, want the pod allowed", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckSecurity allowed the pod, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("CheckSecurity: %v, want it to say %q", err, w)
				}
			}
		})
	}
}

// TestPodDataDefaultUser: the process runtime's executor gets the cluster's default
// user, whatever the pod's annotations say; the kubelet runtime's none.
func TestPodDataDefaultUser(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Annotations: map[string]string{AnnotationDefaultUser: "0:0"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}
	for _, tc := range []struct {
		sec  Security
		want string
	}{
		{defaultSecurity, "65534:65534"},
		{Security{Runtime: mesosv1alpha1.RuntimeProcess, User: 1000, Group: 100}, "1000:100"},
		{Security{Runtime: mesosv1alpha1.RuntimeKubelet, User: 65534, Group: 65534}, ""},
	} {
		data, err := PodData(pod, tc.sec)
		if err != nil {
			t.Fatal(err)
		}
		var back corev1.Pod
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if got := back.Annotations[AnnotationDefaultUser]; got != tc.want {
			t.Errorf("%s runtime: default user %q, want %q", tc.sec.Runtime, got, tc.want)
		}
	}
	if pod.Annotations[AnnotationDefaultUser] != "0:0" {
		t.Error("PodData changed the pod")
	}
}

// TestCheckSecurityRootGroup: on the process runtime a pod's groups are the agent's, and
// group 0 is root's: rootPods: Refuse refuses it in every field that names a group, and
// Allow lets it through. The kubelet runtime's containers have groups of their own.
func TestCheckSecurityRootGroup(t *testing.T) {
	var (
		process     = Security{Runtime: mesosv1alpha1.RuntimeProcess, User: 65534, Group: 65534, RefuseRoot: true}
		processRoot = Security{Runtime: mesosv1alpha1.RuntimeProcess, User: 65534, Group: 65534}
		kubelet     = Security{Runtime: mesosv1alpha1.RuntimeKubelet, RefuseRoot: true}
		root, user  = int64(0), int64(1000)
	)
	cases := []struct {
		name  string
		pod   *corev1.Pod
		field string
	}{
		{"pod runAsGroup", secPod(&corev1.PodSecurityContext{RunAsUser: &user, RunAsGroup: &root}, nil), "spec.securityContext.runAsGroup"},
		{"container runAsGroup", secPod(nil, &corev1.SecurityContext{RunAsUser: &user, RunAsGroup: &root}), "spec.containers[0].securityContext.runAsGroup"},
		{"init container runAsGroup", &corev1.Pod{Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "i", SecurityContext: &corev1.SecurityContext{RunAsGroup: &root}}},
			Containers:     []corev1.Container{{Name: "c"}}}}, "spec.initContainers[0].securityContext.runAsGroup"},
		{"ephemeral container runAsGroup", &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "e", SecurityContext: &corev1.SecurityContext{RunAsGroup: &root}}}}}}, "spec.ephemeralContainers[0].securityContext.runAsGroup"},
		{"supplementalGroups", secPod(&corev1.PodSecurityContext{RunAsUser: &user, SupplementalGroups: []int64{user, root}}, nil), "spec.securityContext.supplementalGroups[1]"},
		{"fsGroup", secPod(&corev1.PodSecurityContext{RunAsUser: &user, FSGroup: &root}, nil), "spec.securityContext.fsGroup"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSecurity(tc.pod, process)
			want := tc.field + ": Forbidden: gid 0 is root's group"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("process runtime, rootPods Refuse: CheckSecurity = %v, want it to say %q", err, want)
			}
			if err := CheckSecurity(tc.pod, processRoot); err != nil {
				t.Errorf("process runtime, rootPods Allow: CheckSecurity = %v, want the pod allowed", err)
			}
			if err := CheckSecurity(tc.pod, kubelet); err != nil {
				t.Errorf("kubelet runtime, rootPods Refuse: CheckSecurity = %v, want the pod allowed", err)
			}
		})
	}
}
