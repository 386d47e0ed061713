package ttlcache

import (
	"context"
	"fmt"
	"sort"
	"time"

	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// Authorizer asks another authorizer, through a cache, as the API server's and the
// kubelet's webhook authorizers do: an allowed answer is remembered for AllowedTTL,
// any other for DeniedTTL, an error not at all; each question is given Timeout.
type Authorizer struct {
	inner                          authorizer.UnconditionalAuthorizer
	allowedTTL, deniedTTL, timeout time.Duration
	now                            func() time.Time
	decisions                      *Cache[authorizer.Decision]
}

// NewAuthorizer returns an Authorizer of inner that remembers at most max answers, by
// the clock now (time.Now if nil).
func NewAuthorizer(inner authorizer.UnconditionalAuthorizer, allowedTTL, deniedTTL, timeout time.Duration, max int, now func() time.Time) *Authorizer {
	if now == nil {
		now = time.Now
	}
	return &Authorizer{inner: inner, allowedTTL: allowedTTL, deniedTTL: deniedTTL, timeout: timeout, now: now,
		decisions: New[authorizer.Decision](max)}
}

// Authorize answers from the cache, or asks; a remembered answer has no reason.
func (z *Authorizer) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	key := AuthorizationKey(a)
	now := z.now()
	if d, ok := z.decisions.Get(key, now); ok {
		return d, "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, z.timeout)
	defer cancel()
	d, reason, err := z.inner.Authorize(ctx, a)
	if err != nil {
		return authorizer.DecisionNoOpinion, "", err
	}
	ttl := z.deniedTTL
	if d == authorizer.DecisionAllow {
		ttl = z.allowedTTL
	}
	z.decisions.Put(key, d, ttl, now)
	return d, reason, nil
}

// AuthorizationKey is what a SubjectAccessReview of a resource request a asks: the user
// (name, uid, groups, extra) and the resource's attributes (not the path, which such a
// review does not carry). Answers to the same question share it.
func AuthorizationKey(a authorizer.Attributes) string {
	u := a.GetUser()
	extra := make([]string, 0, len(u.GetExtra()))
	for k, v := range u.GetExtra() {
		extra = append(extra, fmt.Sprintf("%q=%q", k, v))
	}
	sort.Strings(extra)
	return fmt.Sprintf("%q %q %q %q|%q %q %q %q %q %q %q",
		u.GetName(), u.GetUID(), u.GetGroups(), extra,
		a.GetVerb(), a.GetAPIGroup(), a.GetAPIVersion(), a.GetNamespace(), a.GetResource(), a.GetSubresource(), a.GetName())
}
