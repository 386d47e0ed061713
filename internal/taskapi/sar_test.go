package taskapi

import (
	"context"
	"errors"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

func TestSubjectAccessReviewsAskAndRemember(t *testing.T) {
	var asked []authorizationv1.SubjectAccessReviewSpec
	failing := false
	c := interceptor.NewClient(fake.NewClientBuilder().Build(), interceptor.Funcs{
		Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			if failing {
				return errors.New("timeout")
			}
			sar := obj.(*authorizationv1.SubjectAccessReview)
			asked = append(asked, sar.Spec)
			sar.Status.Allowed = sar.Spec.ResourceAttributes.Namespace == "mine"
			sar.Status.Denied = sar.Spec.ResourceAttributes.Namespace == "denied"
			return nil
		},
	})
	now := time.Now()
	s := newAuthorizer(c, func() time.Time { return now })
	attrs := func(ns string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "alice", Groups: []string{"devs"}, Extra: map[string][]string{"k": {"v"}}},
			Verb: "list", Namespace: ns, APIGroup: GroupVersion.Group, APIVersion: "v1alpha1", Resource: Resource, ResourceRequest: true}
	}
	ctx := context.Background()
	for _, tc := range []struct {
		ns   string
		want authorizer.Decision
	}{{"mine", authorizer.DecisionAllow}, {"theirs", authorizer.DecisionNoOpinion}, {"denied", authorizer.DecisionDeny}} {
		if d, _, err := s.Authorize(ctx, attrs(tc.ns)); err != nil || d != tc.want {
			t.Errorf("%s: %v %v, want %v", tc.ns, d, err, tc.want)
		}
	}
	if len(asked) != 3 {
		t.Fatalf("asked %d times", len(asked))
	}
	if a := asked[0]; a.User != "alice" || a.Groups[0] != "devs" || a.Extra["k"][0] != "v" ||
		a.ResourceAttributes.Group != "tasks.mesos.k8sm.io" || a.ResourceAttributes.Resource != "mesostasks" || a.ResourceAttributes.Verb != "list" {
		t.Errorf("asked %+v", a)
	}
	// Remembered for a while: not asked again, even with the API server failing.
	failing = true
	if d, _, err := s.Authorize(ctx, attrs("mine")); err != nil || d != authorizer.DecisionAllow || len(asked) != 3 {
		t.Errorf("cached: %v %v, asked %d times", d, err, len(asked))
	}
	now = now.Add(allowedTTL)
	if _, _, err := s.Authorize(ctx, attrs("mine")); err == nil {
		t.Error("no error once the answer expired and the API server fails")
	}
	failing = false
	if d, _, err := s.Authorize(ctx, attrs("mine")); err != nil || d != authorizer.DecisionAllow || len(asked) != 4 {
		t.Errorf("asked again: %v %v, asked %d times", d, err, len(asked))
	}
}
