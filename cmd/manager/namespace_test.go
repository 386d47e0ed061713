package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The manager's namespace, the one it reads Secrets from: the flag, else the service
// account's namespace, else config/default's.
func TestManagerNamespace(t *testing.T) {
	dir := t.TempDir()
	saFile := filepath.Join(dir, "namespace")
	blank := filepath.Join(dir, "blank")
	if err := os.WriteFile(saFile, []byte("operators\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blank, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, flag, file, want string }{
		{"the flag first", "mine", saFile, "mine"},
		{"in a cluster, the service account's", "", saFile, "operators"},
		{"outside a cluster, config/default's", "", filepath.Join(dir, "missing"), "k8sm-system"},
		{"a blank file is no namespace", "", blank, "k8sm-system"},
	} {
		if got := managerNamespace(c.flag, c.file); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}
