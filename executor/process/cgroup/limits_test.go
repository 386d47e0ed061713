package cgroup

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestShares(t *testing.T) {
	for _, tc := range []struct {
		milli int64
		want  uint64
	}{
		{-5, 2}, {0, 2}, {1, 2}, {2, 2}, {100, 102}, {250, 256}, {1000, 1024},
		{256000, 262144}, {300000, 262144},
	} {
		if got := Shares(tc.milli); got != tc.want {
			t.Errorf("Shares(%d) = %d, want %d", tc.milli, got, tc.want)
		}
	}
}

func TestQuota(t *testing.T) {
	for _, tc := range []struct {
		milli, want int64
	}{
		{-1, 0}, {0, 0}, {1, 1000}, {10, 1000}, {11, 1100}, {100, 10000}, {1500, 150000}, {64000, 6400000},
	} {
		if got := Quota(tc.milli); got != tc.want {
			t.Errorf("Quota(%d) = %d, want %d", tc.milli, got, tc.want)
		}
	}
}

func TestWeight(t *testing.T) {
	for _, tc := range []struct {
		shares, want uint64
	}{
		{0, 1}, {2, 1}, {102, 4}, {1024, 39}, {2048, 79}, {262144, 10000}, {1 << 20, 10000},
	} {
		if got := Weight(tc.shares); got != tc.want {
			t.Errorf("Weight(%d) = %d, want %d", tc.shares, got, tc.want)
		}
	}
}

func res(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func ctr(name string, requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func TestContainerLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    corev1.Container
		want Limits
	}{
		{"best effort", ctr("c", nil, nil), Limits{}},
		{"requests only", ctr("c", res("cpu", "250m", "memory", "64Mi"), nil), Limits{CPUSharesMilli: 250}},
		{"limits stand in for requests", ctr("c", nil, res("cpu", "2", "memory", "1Gi")),
			Limits{MemoryBytes: 1 << 30, CPUMilli: 2000, CPUSharesMilli: 2000}},
		{"both", ctr("c", res("cpu", "100m"), res("cpu", "500m", "memory", "16Mi")),
			Limits{MemoryBytes: 16 << 20, CPUMilli: 500, CPUSharesMilli: 100}},
	} {
		if got := ContainerLimits(&tc.c); got != tc.want {
			t.Errorf("%s: ContainerLimits = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestPodLimits(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	sidecar := ctr("side", res("cpu", "100m"), res("cpu", "100m", "memory", "10Mi"))
	sidecar.RestartPolicy = &always
	for _, tc := range []struct {
		name string
		spec corev1.PodSpec
		pids int64
		want Limits
	}{
		{"limits summed", corev1.PodSpec{Containers: []corev1.Container{
			ctr("a", res("cpu", "100m"), res("cpu", "1", "memory", "100Mi")),
			ctr("b", res("cpu", "200m"), res("cpu", "500m", "memory", "28Mi")),
		}}, 0, Limits{MemoryBytes: 128 << 20, CPUMilli: 1500, CPUSharesMilli: 300}},
		{"one container without a memory limit: no pod memory limit", corev1.PodSpec{Containers: []corev1.Container{
			ctr("a", nil, res("cpu", "1", "memory", "100Mi")),
			ctr("b", res("cpu", "200m"), res("cpu", "500m")),
		}}, 4096, Limits{CPUMilli: 1500, CPUSharesMilli: 200, Pids: 4096}},
		{"an init container without a cpu limit: no pod cpu limit", corev1.PodSpec{
			InitContainers: []corev1.Container{ctr("i", nil, res("memory", "1Mi"))},
			Containers:     []corev1.Container{ctr("a", nil, res("cpu", "1", "memory", "100Mi"))},
		}, 0, Limits{MemoryBytes: 100 << 20}},
		{"a bigger init container sets the pod's", corev1.PodSpec{
			InitContainers: []corev1.Container{ctr("i", res("cpu", "2"), res("cpu", "2", "memory", "1Gi"))},
			Containers:     []corev1.Container{ctr("a", res("cpu", "1"), res("cpu", "1", "memory", "100Mi"))},
		}, 0, Limits{MemoryBytes: 1 << 30, CPUMilli: 2000, CPUSharesMilli: 2000}},
		{"a sidecar adds to the containers", corev1.PodSpec{
			InitContainers: []corev1.Container{sidecar},
			Containers:     []corev1.Container{ctr("a", res("cpu", "1"), res("cpu", "1", "memory", "100Mi"))},
		}, 0, Limits{MemoryBytes: 110 << 20, CPUMilli: 1100, CPUSharesMilli: 1100}},
		{"overhead on top", corev1.PodSpec{
			Overhead:   res("cpu", "50m", "memory", "10Mi"),
			Containers: []corev1.Container{ctr("a", res("cpu", "1"), res("cpu", "1", "memory", "100Mi"))},
		}, 0, Limits{MemoryBytes: 110 << 20, CPUMilli: 1050, CPUSharesMilli: 1050}},
		{"pod-level resources", corev1.PodSpec{
			Resources:  &corev1.ResourceRequirements{Requests: res("cpu", "1"), Limits: res("cpu", "2", "memory", "1Gi")},
			Containers: []corev1.Container{ctr("a", nil, nil)},
		}, 0, Limits{MemoryBytes: 1 << 30, CPUMilli: 2000, CPUSharesMilli: 1000}},
		{"best effort", corev1.PodSpec{Containers: []corev1.Container{ctr("a", nil, nil)}}, 0, Limits{}},
	} {
		pod := &corev1.Pod{Spec: tc.spec}
		if got := PodLimits(pod, tc.pids); got != tc.want {
			t.Errorf("%s: PodLimits = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestSettings(t *testing.T) {
	full := Limits{MemoryBytes: 16 << 20, CPUMilli: 500, CPUSharesMilli: 250, Pids: 100}
	for _, tc := range []struct {
		name      string
		v         Version
		l         Limits
		container bool
		want      []setting
	}{
		{"v1 all", V1, full, true, []setting{
			{"memory", "memory.limit_in_bytes", "16777216", false},
			{"memory", "memory.memsw.limit_in_bytes", "16777216", true},
			{"cpu", "cpu.shares", "256", false},
			{"cpu", "cpu.cfs_period_us", "100000", false},
			{"cpu", "cpu.cfs_quota_us", "50000", false},
			{"pids", "pids.max", "100", false},
		}},
		{"v1 none", V1, Limits{}, false, []setting{{"cpu", "cpu.shares", "2", false}}},
		{"v2 container", V2, full, true, []setting{
			{"memory", "memory.max", "16777216", false},
			{"memory", "memory.swap.max", "0", true},
			{"memory", "memory.oom.group", "1", true},
			{"cpu", "cpu.weight", "10", false},
			{"cpu", "cpu.max", "50000 100000", false},
			{"pids", "pids.max", "100", false},
		}},
		{"v2 pod without limits", V2, Limits{CPUSharesMilli: 1000}, false, []setting{{"cpu", "cpu.weight", "39", false}}},
	} {
		if got := settings(tc.v, tc.l, tc.container); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got  %v\n want %v", tc.name, got, tc.want)
		}
	}
}

func TestOOMKilled(t *testing.T) {
	counted := func(kills, hits uint64) OOM { return OOM{Kills: kills, Counted: true, LimitHits: hits} }
	uncounted := func(hits uint64) OOM { return OOM{LimitHits: hits} }
	for _, tc := range []struct {
		name          string
		before, after OOM
		code          int32
		want          bool
	}{
		{"a kill while it ran, SIGKILLed", counted(0, 0), counted(1, 5), 137, true},
		{"a kill while it ran, its shell exited 137", counted(2, 0), counted(3, 0), 137, true},
		{"a kill while it ran, exited 1", counted(0, 0), counted(1, 0), 1, true},
		{"a kill while it ran, exited 0", counted(0, 0), counted(1, 0), 0, false},
		{"a kill before it started", counted(1, 0), counted(1, 9), 137, false},
		{"SIGKILLed without a kill: not OOM", counted(0, 0), counted(0, 3), 137, false},
		{"uncounted: SIGKILL after hitting the limit", uncounted(0), uncounted(4), 137, true},
		{"uncounted: SIGKILL without hitting it", uncounted(4), uncounted(4), 137, false},
		{"uncounted: other exit after hitting it", uncounted(0), uncounted(4), 1, false},
	} {
		if got := OOMKilled(tc.before, tc.after, tc.code); got != tc.want {
			t.Errorf("%s: OOMKilled = %v, want %v", tc.name, got, tc.want)
		}
	}
}
