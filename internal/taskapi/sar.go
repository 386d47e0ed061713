package taskapi

import (
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/kubeletauth"
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

// newAuthorizer authorizes by asking kube-apiserver through c (a SubjectAccessReview,
// as the manager asks for the executors' kubelet API), answers cached for allowedTTL and
// deniedTTL by the clock now (time.Now if nil).
func newAuthorizer(c client.Client, now func() time.Time) *ttlcache.Authorizer {
	return ttlcache.NewAuthorizer(kubeletauth.ClientReviewer{Client: c}, allowedTTL, deniedTTL, reviewTimeout, maxCacheEntries, now)
}
