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
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var o options
			fs := flag.NewFlagSet("manager", flag.ContinueOnError)
			o.bind(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			got := ""
			if err := o.checkLeaderElection(); err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("err = %q, want %q", got, tc.want)
			}
		})
	}
}
