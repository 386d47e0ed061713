package process

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8sm/k8sm/executor"
)

func i64(v int64) *int64 { return &v }

func boolp(v bool) *bool { return &v }

// scPod is a pod named ns/p whose container c has the security contexts given.
func scPod(annotation string, psc *corev1.PodSecurityContext, csc *corev1.SecurityContext) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
		Spec: corev1.PodSpec{SecurityContext: psc, Containers: []corev1.Container{{Name: "c", Command: []string{"true"}, SecurityContext: csc}}}}
	if annotation != "" {
		p.Annotations = map[string]string{AnnotationDefaultUser: annotation}
	}
	return p
}

func TestResolveSettings(t *testing.T) {
	if !enforces {
		t.Skip("the process runtime enforces securityContext on Linux only")
	}
	root := identity{}
	user := identity{UID: 1000, GID: 1000, Groups: []uint32{1000, 27}}
	nobodys := settings{UID: nobody, GID: nobody, Caps: defaultCaps}
	with := func(f func(*settings)) settings { s := nobodys; f(&s); return s }
	for _, tc := range []struct {
		name       string
		self       identity
		annotation string
		pod        *corev1.PodSecurityContext
		ctr        *corev1.SecurityContext
		want       settings
		wantErr    string
	}{
		{name: "nothing asked: nobody, the default capabilities as bounding set", self: root, want: nobodys},
		{name: "nothing asked: the cluster's default user", self: root, annotation: "1000:2000",
			want: with(func(s *settings) { s.UID, s.GID = 1000, 2000 })},
		{name: "the container's runAsUser over the pod's, and the default group, never 0", self: root,
			pod: &corev1.PodSecurityContext{RunAsUser: i64(10)}, ctr: &corev1.SecurityContext{RunAsUser: i64(20)},
			want: with(func(s *settings) { s.UID = 20 })},
		{name: "the pod's runAsGroup", self: root, annotation: "7:8", pod: &corev1.PodSecurityContext{RunAsGroup: i64(30)},
			want: with(func(s *settings) { s.UID, s.GID = 7, 30 })},
		{name: "root when asked", self: root, ctr: &corev1.SecurityContext{RunAsUser: i64(0), RunAsGroup: i64(0)},
			want: with(func(s *settings) { s.UID, s.GID = 0, 0 })},
		{name: "supplementalGroups then fsGroup, each once", self: root,
			pod:  &corev1.PodSecurityContext{SupplementalGroups: []int64{5, 6, 5}, FSGroup: i64(7)},
			want: with(func(s *settings) { s.Groups = []uint32{5, 6, 7} })},
		{name: "capabilities dropped by any spelling", self: root,
			ctr:  &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"NET_RAW", "cap_kill", "NO_SUCH_CAP"}}},
			want: with(func(s *settings) { s.Caps = defaultCaps &^ (1<<13 | 1<<5) })},
		{name: "drop ALL", self: root, ctr: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"all"}}},
			want: with(func(s *settings) { s.Caps = 0 })},
		{name: "allowPrivilegeEscalation false is no_new_privs", self: root, ctr: &corev1.SecurityContext{AllowPrivilegeEscalation: boolp(false)},
			want: with(func(s *settings) { s.NoNewPrivs = true })},
		{name: "allowPrivilegeEscalation true is not", self: root, ctr: &corev1.SecurityContext{AllowPrivilegeEscalation: boolp(true)},
			want: nobodys},
		{name: "the pod's RuntimeDefault seccomp profile", self: root,
			pod:  &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			want: with(func(s *settings) { s.Seccomp = true })},
		{name: "the container's Unconfined over the pod's RuntimeDefault", self: root,
			pod:  &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			ctr:  &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}},
			want: nobodys},
		{name: "the container's RuntimeDefault over the pod's Unconfined", self: root,
			pod:  &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}},
			ctr:  &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			want: with(func(s *settings) { s.Seccomp = true })},
		{name: "runAsNonRoot and runAsUser 0", self: root, ctr: &corev1.SecurityContext{RunAsNonRoot: boolp(true), RunAsUser: i64(0)},
			wantErr: `spec.containers[0].securityContext.runAsUser: container's runAsUser breaks non-root policy (pod: "ns/p", container: c)`},
		{name: "runAsNonRoot and a root default user", self: root, annotation: "0:0", pod: &corev1.PodSecurityContext{RunAsNonRoot: boolp(true)},
			wantErr: `spec.securityContext.runAsNonRoot: container has runAsNonRoot and would run as root, the cluster's default user (mesos.k8sm.io/default-user) (pod: "ns/p", container: c)`},
		{name: "the container's runAsNonRoot false over the pod's true", self: root, annotation: "0:0",
			pod: &corev1.PodSecurityContext{RunAsNonRoot: boolp(true)}, ctr: &corev1.SecurityContext{RunAsNonRoot: boolp(false)},
			want: with(func(s *settings) { s.UID, s.GID = 0, 0 })},
		{name: "runAsNonRoot as nobody", self: root, ctr: &corev1.SecurityContext{RunAsNonRoot: boolp(true)}, want: nobodys},
		{name: "a user id out of range", self: root, ctr: &corev1.SecurityContext{RunAsUser: i64(-1)},
			wantErr: "spec.containers[0].securityContext.runAsUser: -1 is not a user or group id"},
		{name: "an executor that is not root: itself, whatever the default user", self: user, annotation: "5:5",
			want: settings{UID: 1000, GID: 1000, Groups: []uint32{1000, 27}, Caps: defaultCaps}},
		{name: "an executor that is not root, asked for another user", self: user, pod: &corev1.PodSecurityContext{RunAsUser: i64(nobody)},
			wantErr: "spec.securityContext.runAsUser: the executor runs as uid 1000 and cannot run a container as uid 65534"},
		{name: "an executor that is not root, asked for another group", self: user, ctr: &corev1.SecurityContext{RunAsGroup: i64(5)},
			wantErr: "spec.containers[0].securityContext.runAsGroup: the executor runs as gid 1000 and cannot run a container as gid 5"},
		{name: "an executor that is not root, asked for a group it has", self: user, pod: &corev1.PodSecurityContext{SupplementalGroups: []int64{27}},
			want: settings{UID: 1000, GID: 1000, Groups: []uint32{1000, 27}, Caps: defaultCaps}},
		{name: "an executor that is not root, asked for a group it has not", self: user, pod: &corev1.PodSecurityContext{FSGroup: i64(44)},
			wantErr: "spec.securityContext: the executor runs as uid 1000 without group 44 and cannot give it to a container"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, mains, err := resolvePod(scPod(tc.annotation, tc.pod, tc.ctr), tc.self)
			if err != nil {
				t.Fatalf("the pod is refused: %v", err)
			}
			got := mains[0]
			if tc.wantErr != "" {
				if got.err == nil || got.err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %s", got.err, tc.wantErr)
				}
				return
			}
			if got.err != nil || !reflect.DeepEqual(got.settings, tc.want) {
				t.Fatalf("got %+v %v, want %+v", got.settings, got.err, tc.want)
			}
		})
	}
}

// What the process runtime cannot honour fails the pod's start, naming the field, as
// the kubelet rejects a pod it cannot admit.
func TestRefusesWhatItCannotEnforce(t *testing.T) {
	ctr := func(sc corev1.SecurityContext) *corev1.Pod { return scPod("", nil, &sc) }
	pod := func(sc corev1.PodSecurityContext) *corev1.Pod { return scPod("", &sc, nil) }
	unmasked, dflt := corev1.UnmaskedProcMount, corev1.DefaultProcMount
	localhost := &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: new(string)}
	for _, tc := range []struct {
		name    string
		pod     *corev1.Pod
		wantErr string // "" when the pod is taken
	}{
		{"privileged", ctr(corev1.SecurityContext{Privileged: boolp(true)}), "spec.containers[0].securityContext.privileged: "},
		{"privileged false", ctr(corev1.SecurityContext{Privileged: boolp(false)}), ""},
		{"capabilities.add", ctr(corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}}),
			"spec.containers[0].securityContext.capabilities.add: "},
		{"readOnlyRootFilesystem", ctr(corev1.SecurityContext{ReadOnlyRootFilesystem: boolp(true)}), "spec.containers[0].securityContext.readOnlyRootFilesystem: "},
		{"readOnlyRootFilesystem false", ctr(corev1.SecurityContext{ReadOnlyRootFilesystem: boolp(false)}), ""},
		{"a container's seLinuxOptions", ctr(corev1.SecurityContext{SELinuxOptions: &corev1.SELinuxOptions{}}), "spec.containers[0].securityContext.seLinuxOptions: "},
		{"a pod's seLinuxOptions", pod(corev1.PodSecurityContext{SELinuxOptions: &corev1.SELinuxOptions{}}), "spec.securityContext.seLinuxOptions: "},
		{"a container's Localhost seccomp profile", ctr(corev1.SecurityContext{SeccompProfile: localhost}), "spec.containers[0].securityContext.seccompProfile: "},
		{"a pod's Localhost seccomp profile", pod(corev1.PodSecurityContext{SeccompProfile: localhost}), "spec.securityContext.seccompProfile: "},
		{"an AppArmor profile", ctr(corev1.SecurityContext{AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeRuntimeDefault}}),
			"spec.containers[0].securityContext.appArmorProfile: "},
		{"a pod's AppArmor profile", pod(corev1.PodSecurityContext{AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost}}),
			"spec.securityContext.appArmorProfile: "},
		{"AppArmor Unconfined", ctr(corev1.SecurityContext{AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}}), ""},
		{"procMount Unmasked", ctr(corev1.SecurityContext{ProcMount: &unmasked}), "spec.containers[0].securityContext.procMount: "},
		{"procMount Default", ctr(corev1.SecurityContext{ProcMount: &dflt}), ""},
		{"a container's windowsOptions", ctr(corev1.SecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{}}), "spec.containers[0].securityContext.windowsOptions: "},
		{"a pod's windowsOptions", pod(corev1.PodSecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{}}), "spec.securityContext.windowsOptions: "},
		{"sysctls", pod(corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "net.core.somaxconn", Value: "1024"}}}), "spec.securityContext.sysctls: "},
		{"hostUsers false", func() *corev1.Pod { p := scPod("", nil, nil); p.Spec.HostUsers = boolp(false); return p }(), "spec.hostUsers: "},
		{"hostUsers true", func() *corev1.Pod { p := scPod("", nil, nil); p.Spec.HostUsers = boolp(true); return p }(), ""},
		{"an init container's", func() *corev1.Pod {
			p := scPod("", nil, nil)
			p.Spec.InitContainers = []corev1.Container{{Name: "i", Command: []string{"true"}, SecurityContext: &corev1.SecurityContext{Privileged: boolp(true)}}}
			return p
		}(), "spec.initContainers[0].securityContext.privileged: "},
		{"the AppArmor annotation", func() *corev1.Pod {
			p := scPod("", nil, nil)
			p.Annotations = map[string]string{"container.apparmor.security.beta.kubernetes.io/c": "runtime/default"}
			return p
		}(), "metadata.annotations[container.apparmor.security.beta.kubernetes.io/c]: "},
		{"the AppArmor annotation, unconfined", func() *corev1.Pod {
			p := scPod("", nil, nil)
			p.Annotations = map[string]string{"container.apparmor.security.beta.kubernetes.io/c": "unconfined"}
			return p
		}(), ""},
		{"a default user that is not UID:GID", scPod("65534", nil, nil), `metadata.annotations[mesos.k8sm.io/default-user]: "65534" is not UID:GID`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := resolvePod(tc.pod, identity{})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one starting %q", err, tc.wantErr)
			}
			// The runtime refuses to start it, before it makes anything.
			if _, err := (&Runtime{}).Start(tc.pod, t.TempDir(), func(executor.Report) {}); err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Fatalf("Start: %v", err)
			}
		})
	}
}

func TestDefaultCapsAreTheContainerRuntimesDefault(t *testing.T) {
	if defaultCaps != 0xa80425fb {
		t.Fatalf("default capabilities %#x, want containerd's 0xa80425fb", defaultCaps)
	}
	u := settings{UID: 5, GID: 6, Groups: []uint32{6, 7}}.user()
	if want := (&corev1.LinuxContainerUser{UID: 5, GID: 6, SupplementalGroups: []int64{6, 7}}); !reflect.DeepEqual(u.Linux, want) {
		t.Fatalf("status user %+v, want %+v", u.Linux, want)
	}
}
