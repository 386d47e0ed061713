// Package binversion chooses among binaries kept in directories named by their version,
// as bin/ keeps them (bin/k8s/1.37.2/kube-apiserver, bin/metrics-server/v0.8.0/metrics-server):
// by version, not by spelling, under which 1.37.2 comes after 1.37.10.
package binversion

import (
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"
)

// Sort orders paths best first: those whose directory names the version prefer (when
// not "") first, then the rest by their directory's version, highest first, and those
// whose directory names no version last. Ties go by path, so the order is the same
// every time.
func Sort(paths []string, prefer string) {
	want, _ := version.ParseGeneric(prefer)
	rank := func(p string) (*version.Version, int) {
		v, err := version.ParseGeneric(filepath.Base(filepath.Dir(p)))
		switch {
		case err != nil:
			return nil, 2
		case want != nil && v.EqualTo(want):
			return v, 0
		default:
			return v, 1
		}
	}
	slices.SortStableFunc(paths, func(a, b string) int {
		va, ra := rank(a)
		vb, rb := rank(b)
		if ra != rb {
			return ra - rb
		}
		switch {
		case va == nil || vb == nil:
		case va.GreaterThan(vb):
			return -1
		case va.LessThan(vb):
			return 1
		}
		return strings.Compare(a, b)
	})
}

// Best is the first of paths in Sort's order, "" when there is none.
func Best(paths []string, prefer string) string {
	if len(paths) == 0 {
		return ""
	}
	paths = slices.Clone(paths)
	Sort(paths, prefer)
	return paths[0]
}
