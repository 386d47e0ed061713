package controllers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentmsg"
	"github.com/k8sm/k8sm/internal/pki"
)

func testCAPEM(t *testing.T) ([]byte, []byte) {
	t.Helper()
	ca, err := pki.NewCA("kubelet-client-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	return ca.CertPEM, key
}

// The kubelet API's client CA bundle is read from the manager's namespace only, keeps
// only certificates (a key beside them never reaches the agents), and says why not in
// a Degraded reason; a failed read is told apart, so that the executors keep theirs.
func TestKubeletClientCA(t *testing.T) {
	cert, key := testCAPEM(t)
	secret := func(name, k string, v []byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "k8sm-system", Name: name}, Data: map[string][]byte{k: v}}
	}
	sch := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(sch)
	objs := []client.Object{
		secret("ca", "ca.crt", cert), secret("ca-and-key", "bundle.pem", append(append([]byte{}, key...), cert...)),
		secret("not-pem", "ca.crt", []byte("hello")), secret("huge", "ca.crt", []byte(strings.Repeat(string(cert), agentmsg.MaxClientCASize/len(cert)+1))),
	}
	reader := fake.NewClientBuilder().WithScheme(sch).WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, k client.ObjectKey, o client.Object, opts ...client.GetOption) error {
			if k.Name == "unreadable" {
				return errors.New("connection refused")
			}
			return c.Get(ctx, k, o, opts...)
		}}).Build()
	r := &MesosClusterReconciler{APIReader: reader, SecretNamespace: "k8sm-system"}
	for _, tc := range []struct {
		name       string
		ref        *mesosv1alpha1.SecretKeyRef
		want       []byte
		reason     string
		readFailed bool
	}{
		{"none named", nil, nil, "", false},
		{"a bundle", &mesosv1alpha1.SecretKeyRef{Namespace: "k8sm-system", Name: "ca"}, cert, "", false},
		{"a key beside the certificate is left out", &mesosv1alpha1.SecretKeyRef{Namespace: "k8sm-system", Name: "ca-and-key", Key: "bundle.pem"}, cert, "", false},
		{"a missing Secret", &mesosv1alpha1.SecretKeyRef{Namespace: "k8sm-system", Name: "nope"}, nil, ReasonKubeletClientCANotFound, false},
		{"a missing key", &mesosv1alpha1.SecretKeyRef{Namespace: "k8sm-system", Name: "ca", Key: "other"}, nil, ReasonKubeletClientCAInvalid, false},
		{"no certificate", &mesosv1alpha1.SecretKeyRef{Namespace: "k8sm-system", Name: "not-pem"}, nil, ReasonKubeletClientCAInvalid, false},
		{"too big to send", &mesosv1alpha1.SecretKeyRef{Namespace: "k8sm-system", Name: "huge"}, nil, ReasonKubeletClientCAInvalid, false},
		{"another namespace", &mesosv1alpha1.SecretKeyRef{Namespace: "default", Name: "ca"}, nil, ReasonSecretNamespace, false},
		{"the read failed", &mesosv1alpha1.SecretKeyRef{Namespace: "k8sm-system", Name: "unreadable"}, nil, ReasonKubeletClientCANotFound, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mc := &mesosv1alpha1.MesosCluster{}
			mc.Spec.KubeletAPI.ClientCASecretRef = tc.ref
			ca, reason, readFailed, err := r.kubeletClientCA(context.Background(), mc)
			if string(ca) != string(tc.want) || reason != tc.reason || readFailed != tc.readFailed || (err != nil) != (tc.reason != "") {
				t.Errorf("got %d bytes, %q, read failed %v, %v; want %d bytes, %q, %v", len(ca), reason, readFailed, err, len(tc.want), tc.reason, tc.readFailed)
			}
		})
	}
}

// The client CA's problem and a taken kubelet API port show in Degraded unless Degraded
// already says something: one reason at a time, the framework's own first.
func TestKubeletAPIDegradation(t *testing.T) {
	mc := &mesosv1alpha1.MesosCluster{}
	for _, tc := range []struct {
		name, before, want string
	}{
		{"as expected", ReasonAsExpected, ReasonKubeletClientCAInvalid},
		{"already degraded", ReasonAgentsUnlisted, ReasonAgentsUnlisted},
	} {
		before := degradation{tc.before != ReasonAsExpected, tc.before, ""}
		got := before.or(kubeletAPIDegradation(ReasonKubeletClientCAInvalid, errors.New("no PEM"))).or(portTakenDegradation(mc, []string{"n1"}))
		if !got.degraded || got.reason != tc.want {
			t.Errorf("%s: Degraded = %v/%s, want True/%s", tc.name, got.degraded, got.reason, tc.want)
		}
	}
}

// The Nodes whose kubelet API port another process holds make the cluster Degraded,
// named up to five and counted beyond.
func TestPortTakenDegradation(t *testing.T) {
	mc := &mesosv1alpha1.MesosCluster{}
	many := []string{"n1", "n2", "n3", "n4", "n5", "n6", "n7"}
	for _, tc := range []struct {
		name  string
		nodes []string
		says  string // in the message
	}{
		{"one Node", []string{"mesos-c-h1"}, "port (spec.kubeletAPI.port, 10350) on the agents of 1 Node(s): mesos-c-h1;"},
		{"more than five", many, "of 7 Node(s): n1, n2, n3, n4, n5 and 2 more;"},
	} {
		got := degradation{false, ReasonAsExpected, ""}.or(portTakenDegradation(mc, tc.nodes))
		if got.reason != ReasonKubeletAPIPortTaken || !got.degraded || !strings.Contains(got.msg, tc.says) {
			t.Errorf("%s: Degraded = %v/%s %q, want True/%s saying %q", tc.name, got.degraded, got.reason, got.msg, ReasonKubeletAPIPortTaken, tc.says)
		}
	}
}
