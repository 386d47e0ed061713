package process

import (
	"os"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// $(VAR) expansion as Kubernetes does it, in one pass: $$ is a literal $, a reference to
// an unknown variable or one left open stays as written, and an expanded value is not
// expanded again.
func TestExpand(t *testing.T) {
	env := []string{"FOO=bar", "QUOTED=$(FOO)", "TWICE=a", "TWICE=b"}
	for _, tc := range []struct{ in, want string }{
		{"$(FOO)", "bar"},
		{"$(FOO)x$(FOO)", "barxbar"},
		{"$$(FOO)", "$(FOO)"},
		{"$$$(FOO)", "$bar"},
		{"$$", "$"},
		{"a$$b", "a$b"},
		{"$(UNDEFINED)", "$(UNDEFINED)"},
		{"$(FOO", "$(FOO"},
		{"$(FOO$(FOO)", "$(FOO$(FOO)"},
		{"$FOO", "$FOO"},
		{"cost: 5$", "cost: 5$"},
		{"$(QUOTED)", "$(FOO)"},
		{"$(TWICE)", "b"},
		{"$()", "$()"},
		{"no references", "no references"},
	} {
		if got := expand(tc.in, env); got != tc.want {
			t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A container's environment holds one value per name, the last given, as the kubelet
// makes it: a value of the pod's replaces the runtime's PATH and HOSTNAME, and a name
// given twice is there once. (With two, getenv in libc and Go takes the first: the
// pod's PATH would be ignored.)
func TestEnvHasOneValuePerName(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []corev1.EnvVar
		want []string
	}{
		{"the runtime's", nil, []string{"HOSTNAME=p", "PATH=" + os.Getenv("PATH")}},
		{"the pod's PATH", []corev1.EnvVar{{Name: "PATH", Value: "/opt/bin"}}, []string{"HOSTNAME=p", "PATH=/opt/bin"}},
		{"the pod's HOSTNAME and a name twice", []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "HOSTNAME", Value: "h"}, {Name: "A", Value: "$(A)2"}},
			[]string{"HOSTNAME=h", "PATH=" + os.Getenv("PATH"), "A=12"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Env: tc.env}}}}
			got, err := (&Runtime{}).env(p, &p.Spec.Containers[0])
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("env %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

// The cookie by which the runtime finds a container's processes is the runtime's, once,
// whatever the pod's env says.
func TestTheCookieIsTheRuntimes(t *testing.T) {
	p := shPod(corev1.RestartPolicyNever, "true")
	p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: EnvCookie, Value: "the pod's"}}
	id := currentIdentity()
	pd := &pod{rt: &Runtime{}, pod: p, sandbox: t.TempDir()}
	l, err := pd.command(&container{spec: p.Spec.Containers[0], sec: resolved{settings: settings{UID: id.UID, GID: id.GID}}}, "the runtime's")
	if err != nil {
		t.Fatal(err)
	}
	var cookies []string
	for _, kv := range l.Env {
		if v, ok := strings.CutPrefix(kv, EnvCookie+"="); ok {
			cookies = append(cookies, v)
		}
	}
	if !slices.Equal(cookies, []string{"the runtime's"}) {
		t.Fatalf("cookies %q, want only the runtime's", cookies)
	}
}
