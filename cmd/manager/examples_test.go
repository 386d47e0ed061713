package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/testenv"
)

// The MesosClusters people start from — the sample (config/samples) and the example
// OperatorHub's console fills in (config/manifests/examples, the CSV's alm-examples) —
// get as far as looking for their masters once the Secrets they name exist: nothing in
// them keeps the manager from connecting (credentials it would not send, a Secret outside
// its namespace). Their masters are moved to a loopback port nobody listens on, scheme
// and path kept, so that they are unreachable and nothing leaves the host.
var _ = Describe("The example MesosClusters", func() {
	for _, file := range []string{
		filepath.Join("config", "samples", "mesos_v1alpha1_mesoscluster.yaml"),
		filepath.Join("config", "manifests", "examples", "mesoscluster.yaml"),
	} {
		It("connect as given, with their Secrets: "+file, func() {
			ctx := context.Background()
			admin := adminClient()
			b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), file))
			Expect(err).NotTo(HaveOccurred())
			mc := &mesosv1alpha1.MesosCluster{}
			Expect(yaml.UnmarshalStrict(b, mc)).To(Succeed())
			mc.Name = "example-" + mc.Name
			mc.Spec.SchedulerName = mc.Name
			mc.Spec.Master = unreachableMasters(mc.Spec.Master)
			mc.Spec.DeletionPolicy = mesosv1alpha1.DeletionOrphan // it registers no framework to tear down

			installManagerRBAC() // the manager's namespace, where the Secrets go

			for _, s := range secretsNamedBy(mc) {
				Expect(client.IgnoreAlreadyExists(admin.Create(ctx, s))).To(Succeed())
				DeferCleanup(func() { _ = admin.Delete(context.Background(), s) })
			}
			startManager(parseOptions("--health-probe-bind-address", freeAddr(), "--metrics-bind-address", "0", "--namespace", installNamespace))
			Expect(admin.Create(ctx, mc)).To(Succeed())
			DeferCleanup(func() {
				_ = admin.Delete(context.Background(), mc)
				Eventually(gone(admin, client.ObjectKeyFromObject(mc), &mesosv1alpha1.MesosCluster{}), 30*time.Second, 100*time.Millisecond).Should(BeTrue())
			})
			Eventually(readyOf(admin, mc.Name), 60*time.Second, 100*time.Millisecond).Should(
				MatchRegexp("^False/(%s|%s): ", framework.ReasonMasterUnreachable, framework.ReasonNoLeader))
		})
	}
})

// unreachableMasters puts a loopback port nobody listens on in place of each host:port
// of a master string (URLs or zk://), keeping schemes and the ZooKeeper path.
func unreachableMasters(master string) string {
	addr := freeAddr()
	return regexp.MustCompile(`(://|,)[^,/]+`).ReplaceAllString(master, "${1}"+addr)
}

// secretsNamedBy makes the Secrets a cluster names, as a person would fill them in.
func secretsNamedBy(mc *mesosv1alpha1.MesosCluster) []*corev1.Secret {
	var out []*corev1.Secret
	secret := func(ref *mesosv1alpha1.SecretKeyRef, data map[string][]byte) {
		Expect(ref.Namespace).To(Equal(installNamespace), "the example names a Secret outside the manager's namespace")
		out = append(out, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ref.Namespace, Name: ref.Name}, Data: data})
	}
	ca := func(ref *mesosv1alpha1.SecretKeyRef) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		Expect(err).NotTo(HaveOccurred())
		secret(ref, map[string][]byte{ref.CAKey(): []byte(selfSignedPEM(key))})
	}
	if ref := mc.Spec.Framework.CredentialsSecretRef; ref != nil {
		secret(ref, map[string][]byte{"principal": []byte(mc.Spec.Framework.Principal), "secret": []byte(fmt.Sprint("s3cr3t-", mc.Name))})
	}
	if t := mc.Spec.TLS; t != nil && t.CASecretRef != nil {
		ca(t.CASecretRef)
	}
	if ref := mc.Spec.KubeletAPI.ClientCASecretRef; ref != nil {
		ca(ref)
	}
	return out
}
