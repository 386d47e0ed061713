package binversion

import (
	"slices"
	"testing"
)

func TestSort(t *testing.T) {
	for _, tc := range []struct {
		name   string
		paths  []string
		prefer string
		want   []string
	}{
		{
			name:  "by version, not by spelling",
			paths: []string{"k8s/1.37.10/etcd", "k8s/1.37.2/etcd", "k8s/1.9.0/etcd", "k8s/1.37.9/etcd"},
			want:  []string{"k8s/1.37.10/etcd", "k8s/1.37.9/etcd", "k8s/1.37.2/etcd", "k8s/1.9.0/etcd"},
		},
		{
			name:  "with a v, as metrics-server's",
			paths: []string{"ms/v0.8.0/ms", "ms/v0.10.0/ms", "ms/v0.9.1/ms"},
			want:  []string{"ms/v0.10.0/ms", "ms/v0.9.1/ms", "ms/v0.8.0/ms"},
		},
		{
			name:   "the version preferred first, then the rest by version",
			paths:  []string{"k8s/1.37.10/etcd", "k8s/1.37.2/etcd", "k8s/1.36.0/etcd"},
			prefer: "1.37.2",
			want:   []string{"k8s/1.37.2/etcd", "k8s/1.37.10/etcd", "k8s/1.36.0/etcd"},
		},
		{
			name:   "setup-envtest's directory of the version preferred counts as it",
			paths:  []string{"k8s/1.38.0/kube-apiserver", "k8s/1.37.2-linux-amd64/kube-apiserver"},
			prefer: "1.37.2",
			want:   []string{"k8s/1.37.2-linux-amd64/kube-apiserver", "k8s/1.38.0/kube-apiserver"},
		},
		{
			name:   "a version preferred that is not there",
			paths:  []string{"k8s/1.37.2/etcd", "k8s/1.37.10/etcd"},
			prefer: "1.38.0",
			want:   []string{"k8s/1.37.10/etcd", "k8s/1.37.2/etcd"},
		},
		{
			name:  "directories named by no version last, by spelling",
			paths: []string{"k8s/latest/etcd", "k8s/1.37.2/etcd", "k8s/dev/etcd"},
			want:  []string{"k8s/1.37.2/etcd", "k8s/dev/etcd", "k8s/latest/etcd"},
		},
		{
			name:  "the same version twice, by path",
			paths: []string{"k8s/1.37.2-linux-amd64/etcd", "k8s/1.37.2/etcd"},
			want:  []string{"k8s/1.37.2-linux-amd64/etcd", "k8s/1.37.2/etcd"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := slices.Clone(tc.paths)
			Sort(got, tc.prefer)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Sort(%q, %q) = %q, want %q", tc.paths, tc.prefer, got, tc.want)
			}
			if best := Best(tc.paths, tc.prefer); best != tc.want[0] {
				t.Errorf("Best = %q, want %q", best, tc.want[0])
			}
		})
	}
	if got := Best(nil, "1.37.2"); got != "" {
		t.Errorf("Best(nil) = %q, want \"\"", got)
	}
}
