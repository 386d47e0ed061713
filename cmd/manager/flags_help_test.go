package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// usageOf is the help text of the manager's flag name.
func usageOf(t *testing.T, name string) string {
	t.Helper()
	var o options
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	o.bind(fs)
	f := fs.Lookup(name)
	if f == nil {
		t.Fatalf("no flag --%s", name)
	}
	return f.Usage
}

// Every address --metrics-bind-address's help gives as an example, "ADDR (https…" or
// "ADDR (http…", is one the manager serves metrics on that way: an example the
// manager refuses (plain http on an address other hosts reach) would be the first
// thing a person tries.
func TestMetricsBindAddressHelpExamplesAreServed(t *testing.T) {
	usage := usageOf(t, "metrics-bind-address")
	examples := regexp.MustCompile(`(\S*:\d+) \((https?)\b`).FindAllStringSubmatch(usage, -1)
	if len(examples) == 0 {
		t.Fatalf("--metrics-bind-address help gives no example address: %q", usage)
	}
	for _, ex := range examples {
		o := options{metricsAddr: ex[1], secureMetrics: ex[2] == "https"}
		if _, err := metricsOptions(o); err != nil {
			t.Errorf("--metrics-bind-address help example %s (%s) is refused: %v", ex[1], ex[2], err)
		}
	}
}

// The Lease is in the manager's namespace unless the flag names another: in a cluster
// its service account's, outside one --namespace or k8sm-system, where the leader
// election Role is (controller-runtime alone would refuse to start outside a cluster).
func TestTheLeaseIsInTheManagersNamespace(t *testing.T) {
	dir := t.TempDir()
	saFile := filepath.Join(dir, "namespace")
	if err := os.WriteFile(saFile, []byte("operators\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name   string
		o      options
		saFile string
		want   string
	}{
		{"the flag", options{leaderElectionNS: "leases", namespace: "k8sm"}, saFile, "leases"},
		{"in a cluster", options{}, saFile, "operators"},
		{"outside a cluster, --namespace", options{namespace: "k8sm"}, missing, "k8sm"},
		{"outside a cluster, the default", options{}, missing, defaultNamespace},
	} {
		if got := leaseNamespace(tc.o, tc.saFile); got != tc.want {
			t.Errorf("%s: the Lease is in %q, want %q", tc.name, got, tc.want)
		}
	}
	if usage := usageOf(t, "leader-election-namespace"); !strings.Contains(usage, "the manager's own namespace") {
		t.Errorf("--leader-election-namespace help does not give its default: %q", usage)
	}
}
