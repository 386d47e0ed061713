package main

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/kubeletauth"
)

// The executors' kubelet API has the manager review each bearer token (TokenReview) and
// request (SubjectAccessReview) with its own token and config/default's roles: the same
// grants its metrics endpoint uses, and needed with metrics off, as here, where no
// metrics endpoint runs at all.
var _ = Describe("The kubelet API's reviews with config/default's RBAC", func() {
	It("authenticate a caller's token and authorize its request, with nothing refused", func() {
		installManagerRBAC()
		var refused refusals
		mc, err := client.New(refused.watch(serviceAccountConfig(installNamespace, managerAccount)), client.Options{Scheme: newScheme()})
		Expect(err).NotTo(HaveOccurred())
		reviewer := kubeletauth.ClientReviewer{Client: mc}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()

		caller := serviceAccountConfig(metav1.NamespaceDefault, "kubelet-api-caller")
		ok, user, err := reviewer.ReviewToken(ctx, caller.BearerToken, nil)
		Expect(err).NotTo(HaveOccurred(), refused.describe)
		Expect(ok).To(BeTrue(), "the caller's token was not authenticated")
		Expect(user.Name).To(Equal("system:serviceaccount:default:kubelet-api-caller"))

		allowed, _, err := reviewer.ReviewAccess(ctx, *user, "get", "mesos-rbac-agent-1", "log")
		Expect(err).NotTo(HaveOccurred(), refused.describe)
		Expect(allowed).To(BeFalse(), "an account granted nothing may read an agent Node's logs")
		Expect(refused.list()).To(BeEmpty())
	})
})
