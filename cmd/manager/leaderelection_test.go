package main

import (
	"flag"
	"strings"
	"testing"
)

// Leader election timings the election cannot keep are refused (run checks them right
// after the flags, before it looks for the API server), naming the flags; without
// --leader-elect they are not used, and not checked.
func TestLeaderElectionTimingsAreChecked(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the error; empty: none
	}{
		{[]string{"--leader-elect"}, ""},
		{[]string{"--leader-elect", "--leader-election-renew-deadline=10s"},
			"--leader-election-lease-duration (6s) must be longer than --leader-election-renew-deadline (10s): a leader must give up before a standby may take over"},
		{[]string{"--leader-elect", "--leader-election-retry-period=4s"},
			"--leader-election-renew-deadline (4s) must be longer than 1.2 × --leader-election-retry-period (4s): a leader tries to renew every retry period, with up to 20% jitter"},
		{[]string{"--leader-elect", "--leader-election-retry-period=0s"}, "--leader-election-retry-period must be positive, not 0s"},
		{[]string{"--leader-election-renew-deadline=10s"}, ""},
	} {
		checkFlags(t, tc.args, (*options).checkLeaderElection, tc.want)
	}
}

// Durations the manager cannot take for what they say are refused, naming the flag.
func TestDurationsAreChecked(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the error; empty: none
	}{
		{nil, ""},
		{[]string{"--unreachable-timeout=30s", "--task-reconcile-interval=1m"}, ""},
		{[]string{"--unreachable-timeout=-1s"}, "--unreachable-timeout must be positive, not -1s"},
		{[]string{"--unreachable-timeout=0"}, "--unreachable-timeout must be positive, not 0s"},
		{[]string{"--task-reconcile-interval=-5m"}, "--task-reconcile-interval must be positive, not -5m0s"},
	} {
		checkFlags(t, tc.args, (*options).checkDurations, tc.want)
	}
}

// Where MesosTasks are kept: the API server by default, or memory, which needs the
// MesosTasks API that serves them.
func TestMesosTaskStorageIsChecked(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the error; empty: none
	}{
		{nil, ""},
		{[]string{"--mesostask-storage=api-server"}, ""},
		{[]string{"--mesostask-storage=memory", "--tasks-api-bind-address=:9443"}, ""},
		{[]string{"--mesostask-storage=memory"}, "--mesostask-storage=memory needs --tasks-api-bind-address: the MesosTasks are then served by the manager alone"},
		{[]string{"--mesostask-storage=etcd"}, `--mesostask-storage must be api-server or memory, not "etcd"`},
	} {
		checkFlags(t, tc.args, (*options).checkStorage, tc.want)
	}
}

// checkFlags parses args and runs check on the options, as run does, in a subtest: its
// error must be want (empty: none).
func checkFlags(t *testing.T, args []string, check func(*options) error, want string) {
	t.Helper()
	t.Run(strings.Join(args, " "), func(t *testing.T) {
		var o options
		fs := flag.NewFlagSet("manager", flag.ContinueOnError)
		o.bind(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		got := ""
		if err := check(&o); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("err = %q, want %q", got, want)
		}
	})
}
