package integration

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The process runtime's pods through the kubelet API of their agent Node, served by the
// real k8sm-executor under mesos-sim, called as the API server calls a kubelet: their
// logs, and exec with client-go's SPDY client.
var _ = Describe("The kubelet API on an agent Node, for the process runtime's pods", func() {
	It("serves a container's log and runs commands in it as the container", func() {
		sim := startExecSim()

		ns := newNamespace()
		mc, ca, port := kubeletAPICluster(sim, ns)
		user := "kube-apiserver-kubelet-client-" + mc.Name
		bindKubeletAPIAdmin(user)

		By("running a pod that writes its uid")
		pod := newPod(ns, "talker", mc.Spec.SchedulerName, "100m")
		pod.Spec.Containers[0].Command = []string{"sh", "-c", "echo hello from Mesos; id -u; exec sleep 3600"}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		Eventually(podOf(client.ObjectKeyFromObject(pod)), 60*time.Second, 100*time.Millisecond).Should(HaveField("Status.Phase", corev1.PodRunning))
		c := pod.Spec.Containers[0].Name
		base := fmt.Sprintf("https://127.0.0.1:%d", port)

		By("reading its log, whole and its last line")
		logs := fmt.Sprintf("%s/containerLogs/%s/%s/%s", base, ns, pod.Name, c)
		var uid string
		Eventually(func() string {
			s := getStatus(ca.client(user), logs)
			if lines := strings.Split(s, "\n"); len(lines) == 3 {
				uid = lines[1]
			}
			return s
		}, 30*time.Second, 200*time.Millisecond).Should(MatchRegexp(`^200 hello from Mesos\n\d+\n$`))
		Expect(getStatus(ca.client(user), logs+"?tailLines=1")).To(Equal("200 " + uid + "\n"))

		By("running id -u in it through client-go's SPDY executor")
		cfg := ca.restConfig(user, base)
		u, err := url.Parse(fmt.Sprintf("%s/exec/%s/%s/%s?command=id&command=-u&output=1&error=1", base, ns, pod.Name, c))
		Expect(err).NotTo(HaveOccurred())
		ex, err := remotecommand.NewSPDYExecutor(cfg, "POST", u)
		Expect(err).NotTo(HaveOccurred())
		var stdout, stderr bytes.Buffer
		Expect(ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})).To(Succeed(), "stderr: %s", stderr.String())
		Expect(stdout.String()).To(Equal(uid + "\n"))
	})
})

// restConfig is a client configuration for host with a client certificate for user,
// not verifying the executor's self-signed certificate (as the API server by default).
func (ca *kubeletClientCA) restConfig(user, host string) *rest.Config {
	certPEM, keyPEM := ca.clientPEM(user)
	return &rest.Config{Host: host, TLSClientConfig: rest.TLSClientConfig{Insecure: true, CertData: certPEM, KeyData: keyPEM}}
}
