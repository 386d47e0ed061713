package framework

import (
	"context"
	"errors"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// A subscription Mesos's ERROR ended is counted by the reason the cluster's Subscribed
// condition shows for it: a framework Mesos removed, one another scheduler took over,
// and one whose principal changed are what an operator alerts on, and all counted as
// SubscribeRefused they were one series with a role Mesos refused.
func TestDisconnectedCountsTheRefusalsReason(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"removed", &SubscribeError{Reason: ReasonSubscribeRefused, Err: refusal{"Framework has been removed"}}, ReasonFrameworkRemoved},
		{"taken over", &SubscribeError{Reason: ReasonSubscribeRefused, Err: refusal{"Framework failed over"}}, ReasonFrameworkTakenOver},
		{"principal changed", &SubscribeError{Reason: ReasonSubscribeRefused, Err: refusal{"Changing framework's principal is not allowed."}}, ReasonPrincipalChangeRefused},
		{"role refused", &SubscribeError{Reason: ReasonSubscribeRefused, Err: refusal{"Not authorized to register a framework with role 'jobs'"}}, ReasonSubscribeRefused},
		{"a word of a removal only", &SubscribeError{Reason: ReasonSubscribeRefused, Err: refusal{"Not authorized to register a framework with role 'removed'"}}, ReasonSubscribeRefused},
		{"master unreachable", &SubscribeError{Reason: ReasonMasterUnreachable, Err: errors.New("connection refused")}, ReasonMasterUnreachable},
		{"stream closed", errors.New("EOF"), ReasonStreamClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs := &observed{}
			d, err := NewDriver(Config{Master: "http://127.0.0.1:1", FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "k8sm"}, Observer: obs}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			driverHandler{d}.Disconnected(context.Background(), tc.err)
			if got, want := obs.list(), []string{"Disconnected(" + tc.want + ")"}; len(got) != 1 || got[0] != want[0] {
				t.Errorf("observer told %v, want %v", got, want)
			}
		})
	}
}
