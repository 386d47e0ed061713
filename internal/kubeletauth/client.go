package kubeletauth

import (
	"context"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/agentmsg"
)

// ClientReviewer asks the API server through the manager's client, with the manager's
// permission to create tokenreviews and subjectaccessreviews (config/rbac's
// manager-review-role, which its metrics endpoint needs too): for the executors' kubelet
// API, and as the authorizer of the MesosTasks API (internal/taskapi).
type ClientReviewer struct{ Client client.Client }

// ReviewToken is a TokenReview.
func (c ClientReviewer) ReviewToken(ctx context.Context, token string, audiences []string) (bool, *agentmsg.User, error) {
	tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: audiences}}
	if err := c.Client.Create(ctx, tr); err != nil {
		return false, nil, err
	}
	if !tr.Status.Authenticated {
		return false, nil, nil
	}
	u := tr.Status.User
	user := &agentmsg.User{Name: u.Username, UID: u.UID, Groups: u.Groups}
	if len(u.Extra) > 0 {
		user.Extra = map[string][]string{}
		for k, v := range u.Extra {
			user.Extra[k] = v
		}
	}
	return true, user, nil
}

// ReviewAccess is a SubjectAccessReview of a verb on a subresource of a Node.
func (c ClientReviewer) ReviewAccess(ctx context.Context, u agentmsg.User, verb, node, subresource string) (bool, string, error) {
	d, reason, err := c.Authorize(ctx, authorizer.AttributesRecord{
		User: &user.DefaultInfo{Name: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.Extra},
		Verb: verb, Resource: "nodes", Subresource: subresource, Name: node, ResourceRequest: true,
	})
	return d == authorizer.DecisionAllow, reason, err
}

// Authorize is a SubjectAccessReview of a resource request, as an authorizer of
// k8s.io/apiserver: allowed, denied, or neither.
func (c ClientReviewer) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	u := a.GetUser()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups(),
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: a.GetNamespace(), Verb: a.GetVerb(), Group: a.GetAPIGroup(), Version: a.GetAPIVersion(),
			Resource: a.GetResource(), Subresource: a.GetSubresource(), Name: a.GetName(),
		},
	}}
	if extra := u.GetExtra(); len(extra) > 0 {
		sar.Spec.Extra = map[string]authorizationv1.ExtraValue{}
		for k, v := range extra {
			sar.Spec.Extra[k] = v
		}
	}
	if err := c.Client.Create(ctx, sar); err != nil {
		return authorizer.DecisionNoOpinion, "", err
	}
	switch {
	case sar.Status.Allowed:
		return authorizer.DecisionAllow, sar.Status.Reason, nil
	case sar.Status.Denied:
		return authorizer.DecisionDeny, sar.Status.Reason, nil
	}
	return authorizer.DecisionNoOpinion, sar.Status.Reason, nil
}
