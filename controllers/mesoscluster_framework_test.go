package controllers

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// A CA re-issued in its Secret with the same subject and a new key (as cert-manager
// renews one) is a new driver config: the driver restarts with it, where before it kept
// the old CA until the manager restarted, and its next reconnection failed.
func TestARotatedCARestartsTheDriver(t *testing.T) {
	sch := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(sch)
	first, _ := testCAPEM(t)
	second, _ := testCAPEM(t) // the same subject, another key
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "k8sm-system", Name: "mesos-ca"}, Data: map[string][]byte{"ca.crt": first}}
	reader := fake.NewClientBuilder().WithScheme(sch).WithObjects(secret).Build()
	r := &MesosClusterReconciler{APIReader: reader, SecretNamespace: "k8sm-system"}
	mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: mesosv1alpha1.MesosClusterSpec{
		Master: "https://m1:5050", SchedulerName: "mesos",
		TLS: &mesosv1alpha1.TLSSpec{CASecretRef: &mesosv1alpha1.SecretKeyRef{Namespace: "k8sm-system", Name: "mesos-ca"}}}}
	hash := func() string {
		t.Helper()
		cfg, reason, err := r.driverConfig(context.Background(), mc)
		if err != nil {
			t.Fatalf("%s: %v", reason, err)
		}
		return configHash(cfg)
	}
	before := hash()
	if again := hash(); again != before {
		t.Fatalf("the same config hashes differently: %s, %s", before, again)
	}
	secret.Data["ca.crt"] = second
	if err := reader.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	if after := hash(); after == before {
		t.Errorf("a CA re-issued with the same subject leaves the driver config as it was")
	}
}

// Credentials of another principal than spec.framework.principal are refused before any
// attempt: Mesos would answer each SUBSCRIBE 400 ("Authenticated principal ... does not
// match principal ... set in `FrameworkInfo`"). The message names the Secret and the
// spec's principal, never what the Secret holds: a Secret filled by mistake (a line of a
// Mesos credentials file in `principal`) would have its secret shown in the status,
// events and log.
func TestCredentialsOfAnotherPrincipal(t *testing.T) {
	sch := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(sch)
	for _, principal := range []string{"ops", "k8sm s3cr3t"} {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "k8sm-system", Name: "creds"},
			Data: map[string][]byte{"principal": []byte(principal), "secret": []byte("x")}}
		r := &MesosClusterReconciler{APIReader: fake.NewClientBuilder().WithScheme(sch).WithObjects(secret).Build(), SecretNamespace: "k8sm-system"}
		mc := &mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: mesosv1alpha1.MesosClusterSpec{
			Master: "https://m1:5050", Framework: mesosv1alpha1.FrameworkSpec{Principal: "k8sm",
				CredentialsSecretRef: &mesosv1alpha1.SecretKeyRef{Namespace: "k8sm-system", Name: "creds"}}}}
		_, reason, err := r.driverConfig(context.Background(), mc)
		if reason != ReasonCredentialsInvalid || err == nil || !strings.Contains(err.Error(), "k8sm-system/creds (framework.credentialsSecretRef)") ||
			!strings.Contains(err.Error(), `"k8sm"`) || strings.Contains(err.Error(), principal) {
			t.Errorf("credentials of %q for principal k8sm: %s, %v; want %s naming the Secret and k8sm, not what the Secret holds", principal, reason, err, ReasonCredentialsInvalid)
		}
		mc.Spec.Framework.Principal = principal
		if _, reason, err := r.driverConfig(context.Background(), mc); err != nil {
			t.Errorf("credentials of the framework's principal: %s, %v", reason, err)
		}
	}
}
