package executor

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Besides what TestDecodePod checks: names the runtimes make paths of, and quantities
// the parser would take ages over, are refused, at once.
func TestDecodePodRefusesHostileData(t *testing.T) {
	pod := func(spec string) string {
		return `{"metadata":{"name":"p","uid":"5e1f0000-0000-4000-8000-000000000001"},"spec":` + spec + `}`
	}
	for _, tc := range []struct {
		name, data, wantErr string
	}{
		{"an ordinary pod", pod(`{"containers":[{"name":"c","resources":{"requests":{"cpu":"1e3","memory":"64Mi"}}}],"volumes":[{"name":"scratch","emptyDir":{"sizeLimit":"1Gi"}}]}`), ""},
		{"a container name leaving the sandbox", pod(`{"containers":[{"name":"../../etc"}]}`), `spec.containers[0].name: "../../etc" a lowercase RFC 1123 label`},
		{"an empty container name", pod(`{"containers":[{"name":""}]}`), "spec.containers[0].name"},
		{"a container name used twice", pod(`{"initContainers":[{"name":"c"}],"containers":[{"name":"c"}]}`), `spec.containers[0].name: "c" is used twice`},
		{"a volume name leaving the sandbox", pod(`{"containers":[{"name":"c"}],"volumes":[{"name":"a/../../b","emptyDir":{}}]}`), "spec.volumes[0].name"},
		{"a UID leaving the manifest directory", `{"metadata":{"uid":"x/../../../etc/cron.d/evil"},"spec":{"containers":[{"name":"c"}]}}`, "metadata.uid"},
		{"a huge exponent in a request", pod(`{"containers":[{"name":"c","resources":{"requests":{"cpu":"12345678901234567890e200000"}}}]}`), "cpu: the quantity"},
		{"a huge negative exponent in a limit", pod(`{"containers":[{"name":"c","resources":{"limits":{"memory":"1e-2000000000"}}}]}`), "exponent beyond ±308"},
		{"a huge exponent as a bare number", pod(`{"overhead":{"cpu":1e-2000000000},"containers":[{"name":"c"}]}`), "exponent beyond ±308"},
		{"a huge exponent in a size limit", pod(`{"containers":[{"name":"c"}],"volumes":[{"name":"v","emptyDir":{"sizeLimit":"1e99999999999"}}]}`), "sizeLimit"},
		{"an exponent truncated to int32", pod(`{"containers":[{"name":"c","resources":{"requests":{"cpu":"1e4294967297"}}}]}`), "exponent beyond"},
		{"a number-like annotation is no quantity", `{"metadata":{"annotations":{"v":"1e99999"}},"spec":{"containers":[{"name":"c","env":[{"name":"X","value":"1e-99999"}]}]}}`, ""},
		{"an array", `[]`, "not a pod"},
		{"a string", `"pod"`, "not a pod"},
		{"null", `null`, "no containers"},
		{"trailing garbage", pod(`{"containers":[{"name":"c"}]}`) + `x`, "not a pod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			p, err := DecodePod([]byte(tc.data), func(v *corev1.Volume) bool { return v.EmptyDir != nil })
			if took := time.Since(start); took > time.Second {
				t.Errorf("took %s", took)
			}
			if tc.wantErr == "" {
				if err != nil || p == nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// Every quantity of a pod is in a map or field the exponent check knows, so that none
// reaches the quantity parser unchecked.
func TestQuantityFieldsAreKnown(t *testing.T) {
	quantity, list := reflect.TypeFor[resource.Quantity](), reflect.TypeFor[corev1.ResourceList]()
	seen := map[reflect.Type]bool{}
	var walk func(ty reflect.Type, path string)
	walk = func(ty reflect.Type, path string) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || seen[ty] || ty == quantity {
			return
		}
		seen[ty] = true
		for i := range ty.NumField() {
			f := ty.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch {
			case ft == quantity && !quantityKeys[name]:
				t.Errorf("%s.%s is a quantity the exponent check does not know", path, name)
			case ft == list || (ft.Kind() == reflect.Map && ft.Elem() == quantity):
				if !quantityMaps[name] {
					t.Errorf("%s.%s is a resource list the exponent check does not know", path, name)
				}
			default:
				walk(f.Type, path+"."+name)
			}
		}
	}
	walk(reflect.TypeFor[corev1.Pod](), "pod")
}

// FuzzDecodePod: no TaskInfo data makes DecodePod panic; what is not a pod is refused
// with an error, and a pod it returns has containers, names the runtimes can make paths
// of, only volumes the runtime supports, and no service account token.
func FuzzDecodePod(f *testing.F) {
	for _, s := range []string{
		`{"metadata":{"name":"p","uid":"u1"},"spec":{"containers":[{"name":"c","command":["sleep","1"],"resources":{"requests":{"cpu":"100m"}}}]}}`,
		`{"spec":{"containers":[{"name":"c","volumeMounts":[{"name":"kube-api-access-x1","mountPath":"/s"}]}],
		  "volumes":[{"name":"kube-api-access-x1","projected":{"sources":[{"serviceAccountToken":{"path":"token"}}]}},{"name":"scratch","emptyDir":{"sizeLimit":"1Gi"}}]}}`,
		`{"spec":{"containers":[{"name":"../x"}],"volumes":[{"name":"data","hostPath":{"path":"/x"}}]}}`,
		`{"metadata":{"uid":"x/../y"},"spec":{"containers":[{"name":"c","resources":{"limits":{"memory":"1e-99"}}}]}}`,
		`{"spec":{"overhead":{"cpu":1e5},"initContainers":[{"name":"c"}],"containers":[{"name":"c"}]}}`,
		`null`, `[]`, `{`, `"x"`, ``,
	} {
		f.Add([]byte(s))
	}
	emptyDirOnly := func(v *corev1.Volume) bool { return v.EmptyDir != nil }
	f.Fuzz(func(t *testing.T, data []byte) {
		pod, err := DecodePod(data, emptyDirOnly)
		if err != nil {
			if pod != nil || err.Error() == "" {
				t.Fatalf("an error (%v) with a pod, or without words", err)
			}
			return
		}
		if !json.Valid(data) || pod == nil || len(pod.Spec.Containers) == 0 {
			t.Fatalf("took %q as a pod", data)
		}
		if err := checkNames(pod); err != nil {
			t.Fatalf("took a pod with %v", err)
		}
		for i := range pod.Spec.Volumes {
			if v := &pod.Spec.Volumes[i]; !emptyDirOnly(v) || isServiceAccountToken(v) {
				t.Fatalf("took volume %s (%s)", v.Name, VolumeKind(v))
			}
		}
	})
}
