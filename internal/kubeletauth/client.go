package kubeletauth

import (
	"context"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/agentmsg"
)

// ClientReviewer asks the API server through the manager's client, with the manager's
// permission to create tokenreviews and subjectaccessreviews (config/rbac's
// manager-review-role, which its metrics endpoint needs too).
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
func (c ClientReviewer) ReviewAccess(ctx context.Context, user agentmsg.User, verb, node, subresource string) (bool, string, error) {
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user.Name, UID: user.UID, Groups: user.Groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Resource: "nodes", Subresource: subresource, Name: node},
	}}
	if len(user.Extra) > 0 {
		sar.Spec.Extra = map[string]authorizationv1.ExtraValue{}
		for k, v := range user.Extra {
			sar.Spec.Extra[k] = v
		}
	}
	if err := c.Client.Create(ctx, sar); err != nil {
		return false, "", err
	}
	return sar.Status.Allowed, sar.Status.Reason, nil
}
