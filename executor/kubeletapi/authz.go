package kubeletapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-logr/logr"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/k8sm/k8sm/internal/ttlcache"
)

// Authorizer decides whether a user may make a request, as the kubelet's webhook
// authorizer asks the API server with a SubjectAccessReview. It is the kubelet's
// k8s.io/apiserver authorizer.UnconditionalAuthorizer: the attributes it gets are a
// resource request for nodes/<name> with a subresource (see requestAttributes). Only
// DecisionAllow allows.
type Authorizer = authorizer.UnconditionalAuthorizer

// requestAttributes maps a request to authorization attributes as the kubelet (v1.37,
// with KubeletFineGrainedAuthz, GA) does in GetRequestAttributes: the HTTP method gives
// the verb, the path the subresource of nodes/<nodeName>. A path with a fine-grained
// subresource gets it first, then proxy; the request is allowed if either is.
func requestAttributes(u user.Info, r *http.Request, nodeName string) []authorizer.AttributesRecord {
	verb := ""
	switch r.Method {
	case http.MethodPost:
		verb = "create"
	case http.MethodGet:
		verb = "get"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = "delete"
	}
	path := r.URL.Path
	var subresources []string
	switch {
	case isSubpath(path, "/allocatedPods"), isSubpath(path, "/pods"), isSubpath(path, "/runningpods/"):
		subresources = append(subresources, "pods")
	case isSubpath(path, "/healthz"):
		subresources = append(subresources, "healthz")
	case isSubpath(path, "/configz"):
		subresources = append(subresources, "configz")
	}
	switch {
	case isSubpath(path, "/stats/"):
		subresources = append(subresources, "stats")
	case isSubpath(path, "/metrics"):
		subresources = append(subresources, "metrics")
	case isSubpath(path, "/logs/"):
		subresources = append(subresources, "log")
	case isSubpath(path, "/checkpoint/"):
		subresources = append(subresources, "checkpoint")
	case isSubpath(path, "/statusz"):
		subresources = append(subresources, "statusz")
	case isSubpath(path, "/flagz"):
		subresources = append(subresources, "configz")
	default:
		subresources = append(subresources, "proxy")
	}
	attrs := make([]authorizer.AttributesRecord, len(subresources))
	for i, sub := range subresources {
		attrs[i] = authorizer.AttributesRecord{
			User: u, Verb: verb, APIVersion: "v1", Resource: "nodes", Subresource: sub,
			Name: nodeName, ResourceRequest: true, Path: path,
		}
	}
	return attrs
}

// isSubpath is the kubelet's: subpath is path, or under it.
func isSubpath(subpath, path string) bool {
	path = strings.TrimSuffix(path, "/")
	return subpath == path || (strings.HasPrefix(subpath, path) && subpath[len(path)] == '/')
}

// authorization asks the Authorizer, through a cache: allowed answers for 5 minutes,
// denied ones for 30 seconds, errors not at all.
type authorization struct {
	authorizer *ttlcache.Authorizer
	log        logr.Logger
}

// authorize answers the request, or writes why not and returns false.
func (z *authorization) authorize(w http.ResponseWriter, r *http.Request, u user.Info, nodeName string) bool {
	attrs := requestAttributes(u, r, nodeName)
	var subresources []string
	for _, a := range attrs {
		subresources = append(subresources, a.Subresource)
		allowed, err := z.decide(r.Context(), a)
		if err != nil {
			z.log.Error(err, "Authorization error", "user", u.GetName(), "verb", a.Verb, "resource", a.Resource, "subresource", a.Subresource)
			code := http.StatusInternalServerError
			if unavailable(err) {
				code = http.StatusServiceUnavailable
			}
			writeText(w, code, fmt.Sprintf("Authorization error (user=%s, verb=%s, resource=%s, subresource=%s)", u.GetName(), a.Verb, a.Resource, a.Subresource))
			return false
		}
		if allowed {
			return true
		}
	}
	// The attributes only differ by subresource: the kubelet's message shows the first.
	z.log.V(2).Info("Forbidden", "user", u.GetName(), "verb", attrs[0].Verb, "resource", attrs[0].Resource, "subresource(s)", subresources)
	writeText(w, http.StatusForbidden, fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=%s, subresource(s)=%v)\n", u.GetName(), attrs[0].Verb, attrs[0].Resource, subresources))
	return false
}

// decide says whether a is allowed.
func (z *authorization) decide(ctx context.Context, a authorizer.AttributesRecord) (bool, error) {
	d, _, err := z.authorizer.Authorize(ctx, a)
	return d == authorizer.DecisionAllow, err
}
