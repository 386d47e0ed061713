package executor

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestDecodePod(t *testing.T) {
	emptyDirOnly := func(v *corev1.Volume) bool { return v.EmptyDir != nil }
	for _, tc := range []struct {
		name    string
		data    string
		wantErr string
		check   func(*testing.T, *corev1.Pod)
	}{
		{name: "no data", data: "", wantErr: "carries no pod"},
		{name: "not json", data: "{", wantErr: "not a pod"},
		{name: "no containers", data: `{"spec":{}}`, wantErr: "spec.containers"},
		{name: "unsupported volume named", data: `{"spec":{"containers":[{"name":"c"}],"volumes":[{"name":"data","hostPath":{"path":"/x"}}]}}`,
			wantErr: "spec.volumes[0] (data): this runtime cannot provide hostPath volumes"},
		{name: "service account token dropped with its mounts",
			data: `{"spec":{"containers":[{"name":"c","volumeMounts":[{"name":"kube-api-access-x1","mountPath":"/var/run/secrets"},{"name":"scratch","mountPath":"/s"}]}],
"initContainers":[{"name":"i","volumeMounts":[{"name":"kube-api-access-x1","mountPath":"/var/run/secrets"}]}],
"volumes":[{"name":"kube-api-access-x1","projected":{"sources":[{"serviceAccountToken":{"path":"token"}},{"configMap":{"name":"kube-root-ca.crt"}}]}},{"name":"scratch","emptyDir":{}}]}}`,
			check: func(t *testing.T, p *corev1.Pod) {
				if len(p.Spec.Volumes) != 1 || p.Spec.Volumes[0].Name != "scratch" {
					t.Errorf("volumes = %+v, want scratch only", p.Spec.Volumes)
				}
				if m := p.Spec.Containers[0].VolumeMounts; len(m) != 1 || m[0].Name != "scratch" {
					t.Errorf("container mounts = %+v, want scratch only", m)
				}
				if m := p.Spec.InitContainers[0].VolumeMounts; len(m) != 0 {
					t.Errorf("init container mounts = %+v, want none", m)
				}
			}},
		{name: "another projected volume is not dropped",
			data:    `{"spec":{"containers":[{"name":"c"}],"volumes":[{"name":"mine","projected":{"sources":[{"serviceAccountToken":{"path":"token"}}]}}]}}`,
			wantErr: "spec.volumes[0] (mine): this runtime cannot provide projected volumes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DecodePod([]byte(tc.data), emptyDirOnly)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}
