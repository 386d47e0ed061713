package podtask

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// defaultSecurity is what a MesosCluster with no podSecurity gets.
var defaultSecurity = SecurityFor(&mesosv1alpha1.MesosCluster{})

// defaultIDs is spec.podSecurity.allowedIDs when it is not set.
var defaultIDs = []mesosv1alpha1.IDRange{{Min: 1000, Max: 2147483647}}

func TestSecurityFor(t *testing.T) {
	uid, gid := int64(1000), int64(100)
	custom := []mesosv1alpha1.IDRange{{Min: 33, Max: 33}, {Min: 5000, Max: 5999}}
	cases := []struct {
		name string
		mc   mesosv1alpha1.MesosClusterSpec
		want Security
	}{
		{"defaults: process runtime, nobody, root refused, ids from 1000", mesosv1alpha1.MesosClusterSpec{},
			Security{Runtime: mesosv1alpha1.RuntimeProcess, User: 65534, Group: 65534, RefuseRoot: true, AllowedIDs: defaultIDs}},
		{"explicit user and group, root allowed", mesosv1alpha1.MesosClusterSpec{PodSecurity: mesosv1alpha1.PodSecuritySpec{RunAsUser: &uid, RunAsGroup: &gid, RootPods: mesosv1alpha1.RootPodsAllow}},
			Security{Runtime: mesosv1alpha1.RuntimeProcess, User: 1000, Group: 100, AllowedIDs: defaultIDs}},
		{"kubelet runtime", mesosv1alpha1.MesosClusterSpec{Executor: mesosv1alpha1.ExecutorSpec{Runtime: mesosv1alpha1.RuntimeKubelet}, PodSecurity: mesosv1alpha1.PodSecuritySpec{RootPods: mesosv1alpha1.RootPodsRefuse}},
			Security{Runtime: mesosv1alpha1.RuntimeKubelet, User: 65534, Group: 65534, RefuseRoot: true, AllowedIDs: defaultIDs}},
		{"allowed ids", mesosv1alpha1.MesosClusterSpec{PodSecurity: mesosv1alpha1.PodSecuritySpec{AllowedIDs: custom}},
			Security{Runtime: mesosv1alpha1.RuntimeProcess, User: 65534, Group: 65534, RefuseRoot: true, AllowedIDs: custom}},
		{"allowed ids empty: the default", mesosv1alpha1.MesosClusterSpec{PodSecurity: mesosv1alpha1.PodSecuritySpec{AllowedIDs: []mesosv1alpha1.IDRange{}}},
			Security{Runtime: mesosv1alpha1.RuntimeProcess, User: 65534, Group: 65534, RefuseRoot: true, AllowedIDs: defaultIDs}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mc := &mesosv1alpha1.MesosCluster{Spec: tc.mc}
			got := SecurityFor(mc)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("SecurityFor = %+v, want %+v", got, tc.want)
			}
			if len(got.AllowedIDs) > 0 && len(mc.Spec.PodSecurity.AllowedIDs) > 0 && &got.AllowedIDs[0] == &mc.Spec.PodSecurity.AllowedIDs[0] {
				t.Error("SecurityFor shares its ranges with the cluster, which may be the cache's")
			}
		})
	}
}

func secPod(psc *corev1.PodSecurityContext, sc *corev1.SecurityContext) *corev1.Pod {
	return &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: psc,
		InitContainers: []corev1.Container{{Name: "init"}},
		Containers:     []corev1.Container{{Name: "c", SecurityContext: sc}}}}
}

// hostPod is secPod(nil, nil) with its spec changed by set.
func hostPod(set func(*corev1.PodSpec)) *corev1.Pod {
	p := secPod(nil, nil)
	set(&p.Spec)
	return p
}

func TestCheckSecurity(t *testing.T) {
	var (
		process     = Security{Runtime: mesosv1alpha1.RuntimeProcess, User: 65534, Group: 65534, RefuseRoot: true, AllowedIDs: defaultIDs}
		processRoot = Security{Runtime: mesosv1alpha1.RuntimeProcess, User: 65534, Group: 65534, AllowedIDs: defaultIDs}
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
		{"restricted pod, process", secPod(&corev1.PodSecurityContext{RunAsGroup: &user, SupplementalGroups: []int64{1001}, FSGroup: &user}, restricted), process, nil},
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
		{"container runAsNonRoot with pod runAsUser 0", secPod(&corev1.PodSecurityContext{RunAsUser: &root}, &corev1.SecurityContext{RunAsNonRoot: &yes}), processRoot,
			[]string{"spec.containers[0].securityContext.runAsNonRoot: Invalid value: true: spec.securityContext.runAsUser is 0 (root)"}},
		{"container runAsNonRoot with pod runAsUser 0, kubelet", secPod(&corev1.PodSecurityContext{RunAsUser: &root}, &corev1.SecurityContext{RunAsNonRoot: &yes}), kubeletRoot,
			[]string{"spec.containers[0].securityContext.runAsNonRoot: Invalid value"}},
		{"container runAsNonRoot and runAsUser over the pod's 0", secPod(&corev1.PodSecurityContext{RunAsUser: &root}, &corev1.SecurityContext{RunAsNonRoot: &yes, RunAsUser: &user}), kubeletRoot, nil},
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
		{"the agent's namespaces refused on the kubelet runtime", hostPod(func(p *corev1.PodSpec) { p.HostPID, p.HostIPC, p.HostNetwork = true, true, true }), kubelet,
			[]string{"spec.hostPID: Forbidden: it gives the pod the agent's processes: this cluster refuses pods that ask for root",
				"spec.hostIPC: Forbidden", "spec.hostNetwork: Forbidden"}},
		{"a hostPath volume refused on the kubelet runtime", hostPod(func(p *corev1.PodSpec) {
			p.Volumes = []corev1.Volume{{Name: "e", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}), kubelet, []string{"spec.volumes[1].hostPath: Forbidden: it gives the pod the agent's files: this cluster refuses"}},
		{"the agent's namespaces and files allowed on the kubelet runtime", hostPod(func(p *corev1.PodSpec) {
			p.HostPID, p.HostIPC, p.HostNetwork = true, true, true
			p.Volumes = []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}), kubeletRoot, nil},
		{"the process runtime shares the agent's namespaces whatever they say", hostPod(func(p *corev1.PodSpec) { p.HostPID, p.HostIPC, p.HostNetwork = true, true, true }), process, nil},
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
			checkRefusals(t, CheckSecurity(tc.pod, tc.sec), tc.want)
		})
	}
}

// checkRefusals checks CheckSecurity's answer: nil when want is empty, else an error
// that says each of want. It says whether the pod was refused as wanted.
func checkRefusals(t *testing.T, err error, want []string) bool {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("CheckSecurity: %v, want the pod allowed", err)
		}
		return false
	}
	if err == nil {
		t.Fatalf("CheckSecurity allowed the pod, want %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("CheckSecurity: %v, want it to say %q", err, w)
		}
	}
	return true
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
		process     = Security{Runtime: mesosv1alpha1.RuntimeProcess, User: 65534, Group: 65534, RefuseRoot: true, AllowedIDs: defaultIDs}
		processRoot = Security{Runtime: mesosv1alpha1.RuntimeProcess, User: 65534, Group: 65534, AllowedIDs: defaultIDs}
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

// TestCheckSecurityAllowedIDs: on the process runtime every id a pod names but 0 is one
// of the agent's accounts or groups, and must be in spec.podSecurity.allowedIDs (by
// default 1000 and up, past the system accounts and groups) or be the cluster's default
// user (as a uid) or group (as a gid). 0 is rootPods' alone; the kubelet runtime is not
// checked.
func TestCheckSecurityAllowedIDs(t *testing.T) {
	id := func(v int64) *int64 { return &v }
	sec := func(rt mesosv1alpha1.ExecutorRuntime, ps mesosv1alpha1.PodSecuritySpec) Security {
		return SecurityFor(&mesosv1alpha1.MesosCluster{Spec: mesosv1alpha1.MesosClusterSpec{Executor: mesosv1alpha1.ExecutorSpec{Runtime: rt}, PodSecurity: ps}})
	}
	var (
		process = sec("", mesosv1alpha1.PodSecuritySpec{})
		allow   = sec("", mesosv1alpha1.PodSecuritySpec{RootPods: mesosv1alpha1.RootPodsAllow})
		kubelet = sec(mesosv1alpha1.RuntimeKubelet, mesosv1alpha1.PodSecuritySpec{})
		// www-data's uid and gid by default, ids 2000-2999 and 5000, and 0-10, which
		// does not open 0 while rootPods is Refuse.
		custom = sec("", mesosv1alpha1.PodSecuritySpec{RunAsUser: id(33), RunAsGroup: id(34),
			AllowedIDs: []mesosv1alpha1.IDRange{{Min: 2000, Max: 2999}, {Min: 5000, Max: 5000}, {Min: 0, Max: 10}}})
	)
	const system = ": ids below 1000 are the agent's system accounts and groups"
	cases := []struct {
		name string
		pod  *corev1.Pod
		sec  Security
		want []string // each a substring of the error; none: allowed
	}{
		{"a system uid", secPod(&corev1.PodSecurityContext{RunAsUser: id(33)}, nil), process,
			[]string{"spec.securityContext.runAsUser: Forbidden: uid 33 is outside spec.podSecurity.allowedIDs (1000-2147483647)" + system}},
		{"a system group as a supplemental group", secPod(&corev1.PodSecurityContext{RunAsUser: id(1000), SupplementalGroups: []int64{1000, 42}}, nil), process,
			[]string{"spec.securityContext.supplementalGroups[1]: Forbidden: gid 42 is outside spec.podSecurity.allowedIDs (1000-2147483647)" + system}},
		{"pod runAsGroup and fsGroup", secPod(&corev1.PodSecurityContext{RunAsGroup: id(6), FSGroup: id(999)}, nil), process,
			[]string{"spec.securityContext.runAsGroup: Forbidden: gid 6 is outside", "spec.securityContext.fsGroup: Forbidden: gid 999 is outside"}},
		{"container runAsUser and runAsGroup", secPod(nil, &corev1.SecurityContext{RunAsUser: id(1), RunAsGroup: id(998)}), process,
			[]string{"spec.containers[0].securityContext.runAsUser: Forbidden: uid 1 is outside", "spec.containers[0].securityContext.runAsGroup: Forbidden: gid 998 is outside"}},
		{"init containers are checked", &corev1.Pod{Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "i", SecurityContext: &corev1.SecurityContext{RunAsUser: id(100)}}},
			Containers:     []corev1.Container{{Name: "c"}}}}, process,
			[]string{"spec.initContainers[0].securityContext.runAsUser: Forbidden: uid 100 is outside"}},
		{"ephemeral containers are checked", &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "e", SecurityContext: &corev1.SecurityContext{RunAsGroup: id(27)}}}}}}, process,
			[]string{"spec.ephemeralContainers[0].securityContext.runAsGroup: Forbidden: gid 27 is outside"}},
		{"the ends of the default range", secPod(&corev1.PodSecurityContext{RunAsUser: id(1000), RunAsGroup: id(2147483647), SupplementalGroups: []int64{1000}, FSGroup: id(1000)},
			&corev1.SecurityContext{RunAsUser: id(2147483647), RunAsGroup: id(1000)}), process, nil},
		{"the default user and group", secPod(&corev1.PodSecurityContext{RunAsUser: id(65534), RunAsGroup: id(65534)}, nil),
			sec("", mesosv1alpha1.PodSecuritySpec{AllowedIDs: []mesosv1alpha1.IDRange{{Min: 2000, Max: 2999}}}), nil},
		{"a cluster's system default user and group", secPod(&corev1.PodSecurityContext{RunAsUser: id(33), RunAsGroup: id(34), FSGroup: id(34)},
			&corev1.SecurityContext{RunAsUser: id(33)}), custom, nil},
		{"the default user is no group, the default group no user", secPod(&corev1.PodSecurityContext{RunAsUser: id(34), SupplementalGroups: []int64{33}}, nil), custom,
			[]string{"spec.securityContext.runAsUser: Forbidden: uid 34 is outside spec.podSecurity.allowedIDs (2000-2999, 5000, 0-10)" + system,
				"spec.securityContext.supplementalGroups[0]: Forbidden: gid 33 is outside"}},
		{"custom ranges: inside", secPod(&corev1.PodSecurityContext{RunAsUser: id(2000), RunAsGroup: id(2999), SupplementalGroups: []int64{5000, 7}}, nil), custom, nil},
		{"custom ranges: outside, and no longer the default range", secPod(&corev1.PodSecurityContext{RunAsUser: id(3000), RunAsGroup: id(1500)}, nil), custom,
			[]string{"spec.securityContext.runAsUser: Forbidden: uid 3000 is outside spec.podSecurity.allowedIDs (2000-2999, 5000, 0-10)",
				"spec.securityContext.runAsGroup: Forbidden: gid 1500 is outside"}},
		{"a range with 0 does not allow root", secPod(&corev1.PodSecurityContext{RunAsUser: id(0), RunAsGroup: id(0)}, nil), custom,
			[]string{"spec.securityContext.runAsUser: Forbidden: " + rootRefused, "spec.securityContext.runAsGroup: Forbidden: " + rootGroupRefused}},
		{"rootPods Allow allows 0 outside the ranges", secPod(&corev1.PodSecurityContext{RunAsUser: id(0), RunAsGroup: id(0), FSGroup: id(0)}, nil), allow, nil},
		{"rootPods Allow does not open the ranges", secPod(&corev1.PodSecurityContext{RunAsUser: id(33)}, nil), allow,
			[]string{"spec.securityContext.runAsUser: Forbidden: uid 33 is outside"}},
		{"the kubelet runtime ignores allowedIDs", secPod(&corev1.PodSecurityContext{RunAsUser: id(33), RunAsGroup: id(6), SupplementalGroups: []int64{42}, FSGroup: id(999)},
			&corev1.SecurityContext{RunAsUser: id(1), RunAsGroup: id(27)}), kubelet, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSecurity(tc.pod, tc.sec)
			if !checkRefusals(t, err, tc.want) {
				return
			}
			if n := strings.Count(err.Error(), "Forbidden"); n != len(tc.want) {
				t.Errorf("CheckSecurity: %v: %d refusals, want %d", err, n, len(tc.want))
			}
		})
	}
}
