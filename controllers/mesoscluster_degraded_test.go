package controllers

import (
	"strings"
	"testing"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
)

// A subscribed framework whose credentials anyone could take is Degraded, naming how:
// over plain http (allowPlaintextCredentials), or over https to a master whose
// certificate is not verified (tls.insecureSkipVerify), which hands them to whoever
// answers in its name. Without credentials neither is.
func TestCredentialsToAnUnverifiedMasterDegradeTheCluster(t *testing.T) {
	creds := &mesosv1alpha1.SecretKeyRef{Name: "creds"}
	insecure := &mesosv1alpha1.TLSSpec{InsecureSkipVerify: true}
	for _, tc := range []struct {
		name   string
		master string
		creds  *mesosv1alpha1.SecretKeyRef
		tls    *mesosv1alpha1.TLSSpec
		reason string
	}{
		{"verified https", "https://m:5050", creds, &mesosv1alpha1.TLSSpec{}, ReasonAsExpected},
		{"https without spec.tls", "https://m:5050", creds, nil, ReasonAsExpected},
		{"unverified https", "https://m:5050", creds, insecure, ReasonUnverifiedMaster},
		{"unverified zk", "zk://z:2181/mesos", creds, insecure, ReasonUnverifiedMaster},
		{"plain http", "http://m:5050", creds, nil, ReasonPlaintextCredentials},
		{"unverified, no credentials", "https://m:5050", nil, insecure, ReasonAsExpected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mc := &mesosv1alpha1.MesosCluster{}
			mc.Spec.Master, mc.Spec.TLS = tc.master, tc.tls
			mc.Spec.Framework.CredentialsSecretRef = tc.creds
			d := subscribedDegradation(mc, framework.Status{Subscribed: true, Leader: "https://m:5050"})
			if d.reason != tc.reason || d.degraded != (tc.reason != ReasonAsExpected) {
				t.Fatalf("Degraded %t, %s: %s; want %s", d.degraded, d.reason, d.msg, tc.reason)
			}
			if d.reason == ReasonUnverifiedMaster && !strings.Contains(d.msg, "spec.tls.caSecretRef") {
				t.Errorf("the message does not say what to do: %s", d.msg)
			}
		})
	}
}
