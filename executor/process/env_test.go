package process

import "testing"

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
