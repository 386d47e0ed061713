package main

import (
	"context"
	"net"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/k8sm/k8sm/internal/testenv"
)

// The manager serving the MesosTasks API as config/tasks-api installs it: its own
// ServiceAccount token and that install's RBAC. It makes its certificate (a Secret in its
// namespace), sets the APIService's CA bundle, reads how kube-apiserver's front proxy
// authenticates, and authorizes a request, and not one request is refused.
var _ = Describe("The manager with config/tasks-api's RBAC", func() {
	It("serves the MesosTasks API through kube-apiserver", func() {
		ctx := context.Background()
		Expect(testenv.InstallManagerRBACOf(ctx, testEnv.Config, "tasks-api")).To(Succeed())
		addr := freeAddr()
		_, port, err := net.SplitHostPort(addr)
		Expect(err).NotTo(HaveOccurred())
		portNumber, err := strconv.Atoi(port)
		Expect(err).NotTo(HaveOccurred())
		Expect(testenv.RegisterTasksAPI(ctx, testEnv.Config, installNamespace, portNumber)).To(Succeed())

		var refused refusals
		startManagerAs(refused.watch(serviceAccountConfig(installNamespace, managerAccount)), parseOptions(
			"--health-probe-bind-address", freeAddr(), "--metrics-bind-address", "0", "--namespace", installNamespace,
			"--leader-elect", "--leader-election-namespace", installNamespace, "--leader-election-id", "k8sm-tasks-api-rbac-test",
			"--tasks-api-bind-address", addr))

		served := dynamic.NewForConfigOrDie(testEnv.Config).Resource(schema.GroupVersionResource{Group: "tasks.mesos.k8sm.io", Version: "v1alpha1", Resource: "mesostasks"})
		Eventually(func() error {
			_, err := served.List(ctx, metav1.ListOptions{})
			return err
		}, 60*time.Second, 200*time.Millisecond).Should(Succeed(), refused.describe)
		Expect(refused.list()).To(BeEmpty(), "requests the manager's RBAC refused")
	})
})
