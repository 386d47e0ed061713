package taskapi

import (
	"context"
	"fmt"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/ttlcache"
)

// The caches of SubjectAccessReviews' answers: as kube-apiserver's delegating
// authorizer (--authorization-webhook-cache-authorized-ttl and -unauthorized-ttl) has
// them for an extension API server.
const (
	allowedTTL      = 10 * time.Second
	deniedTTL       = 10 * time.Second
	maxCacheEntries = 4096
	reviewTimeout   = 10 * time.Second
)

// SubjectAccessReviews authorizes by asking kube-apiserver (a SubjectAccessReview),
// answers cached for allowedTTL and deniedTTL.
type SubjectAccessReviews struct {
	Client    client.Client
	decisions *ttlcache.Cache[authorizer.Decision]
	now       func() time.Time
}

// NewSubjectAccessReviews returns an authorizer asking through c.
func NewSubjectAccessReviews(c client.Client) *SubjectAccessReviews {
	return &SubjectAccessReviews{Client: c, decisions: ttlcache.New[authorizer.Decision](maxCacheEntries), now: time.Now}
}

// Authorize asks whether a's user may make its request.
func (s *SubjectAccessReviews) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	key := ttlcache.AuthorizationKey(a)
	now := s.now()
	if d, ok := s.decisions.Get(key, now); ok {
		return d, "", nil
	}
	u := a.GetUser()
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range u.GetExtra() {
		extra[k] = v
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups(), Extra: extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: a.GetNamespace(), Verb: a.GetVerb(), Group: a.GetAPIGroup(), Version: a.GetAPIVersion(),
			Resource: a.GetResource(), Subresource: a.GetSubresource(), Name: a.GetName(),
		},
	}}
	ctx, cancel := context.WithTimeout(ctx, reviewTimeout)
	defer cancel()
	if err := s.Client.Create(ctx, sar); err != nil {
		return authorizer.DecisionNoOpinion, "", fmt.Errorf("asking the API server (SubjectAccessReview): %w", err)
	}
	d, ttl := authorizer.DecisionNoOpinion, deniedTTL
	switch {
	case sar.Status.Allowed:
		d, ttl = authorizer.DecisionAllow, allowedTTL
	case sar.Status.Denied:
		d = authorizer.DecisionDeny
	}
	s.decisions.Put(key, d, ttl, now)
	return d, sar.Status.Reason, nil
}
