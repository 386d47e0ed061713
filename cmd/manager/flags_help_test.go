package main

import (
	"flag"
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

// Outside a cluster the Lease's namespace has no default, whatever --namespace says:
// controller-runtime takes only the service account's, and without it NewManager fails
// ("unable to find leader election namespace: not running in-cluster"). The help must
// not promise a default there.
func TestLeaderElectionNamespaceHelpSaysWhenItIsNeeded(t *testing.T) {
	usage := usageOf(t, "leader-election-namespace")
	if !strings.Contains(usage, "outside a cluster") {
		t.Errorf("--leader-election-namespace help does not say it is needed with --leader-elect outside a cluster: %q", usage)
	}
}
