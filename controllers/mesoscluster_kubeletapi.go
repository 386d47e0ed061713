package controllers

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentmsg"
)

// Condition reasons (Degraded only) of spec.kubeletAPI.clientCASecretRef: the framework
// runs, but the executors accept bearer tokens only on the kubelet API, so the API
// server's `kubectl logs` and `exec` to agent Nodes are refused.
const (
	ReasonKubeletClientCANotFound = "KubeletClientCASecretNotFound"
	ReasonKubeletClientCAInvalid  = "KubeletClientCAInvalid"
	// ReasonKubeletAPIPortTaken (Degraded only): on some agents a process that is no
	// executor of the cluster holds spec.kubeletAPI.port, and the API server reaches it
	// for kubectl logs and exec to those agents' Nodes.
	ReasonKubeletAPIPortTaken = "KubeletAPIPortTaken"
)

// maxNodesNamed bounds the Nodes a condition message names.
const maxNodesNamed = 5

// degradeForPortTaken says the cluster is Degraded for the Nodes whose executors cannot
// serve the kubelet API, unless it is already Degraded for a graver reason.
func degradeForPortTaken(mc *mesosv1alpha1.MesosCluster, st *mesosv1alpha1.MesosClusterStatus, nodes []string) {
	if c := meta.FindStatusCondition(st.Conditions, mesosv1alpha1.ConditionDegraded); c != nil && c.Status == metav1.ConditionTrue {
		return
	}
	named := strings.Join(nodes[:min(len(nodes), maxNodesNamed)], ", ")
	if len(nodes) > maxNodesNamed {
		named += fmt.Sprintf(" and %d more", len(nodes)-maxNodesNamed)
	}
	setCondition(st, mc.Generation, mesosv1alpha1.ConditionDegraded, true, ReasonKubeletAPIPortTaken, fmt.Sprintf(
		"A process that is no executor of the cluster holds the kubelet API port (spec.kubeletAPI.port, %d) on the agents of %d Node(s): %s; "+
			"those Nodes advertise no kubelet API port meanwhile, and kubectl logs and exec to their pods fail (their KubeletAPIPortTaken events say where)",
		mc.Spec.KubeletAPIPort(), len(nodes), named))
}

// kubeletClientCA reads spec.kubeletAPI.clientCASecretRef: the certificates of its CA
// bundle, re-encoded as PEM, nil when the cluster names none. Only CERTIFICATE blocks
// are kept, so that a key put in the same Secret key by mistake never travels to the
// agents. On error it returns the Degraded reason, and whether the read itself failed
// (the API server did not answer): the executors then keep the bundle they have rather
// than lose it to a blip.
func (r *MesosClusterReconciler) kubeletClientCA(ctx context.Context, mc *mesosv1alpha1.MesosCluster) (ca []byte, reason string, readFailed bool, err error) {
	ref := mc.Spec.KubeletAPI.ClientCASecretRef
	if ref == nil {
		return nil, "", false, nil
	}
	data, reason, err := r.secretData(ctx, ref, "kubeletAPI.clientCASecretRef", ReasonKubeletClientCANotFound)
	if err != nil {
		return nil, reason, secretReadFailed(err), err
	}
	key := ref.Key
	if key == "" {
		key = "ca.crt"
	}
	var out []byte
	rest := data[key]
	for len(rest) > 0 {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(b.Bytes); err == nil {
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.Bytes})...)
		}
	}
	switch {
	case len(out) == 0:
		return nil, ReasonKubeletClientCAInvalid, false, fmt.Errorf("Secret %s/%s (kubeletAPI.clientCASecretRef) has no PEM certificate under key %q", ref.Namespace, ref.Name, key) //nolint:staticcheck // a condition message, a sentence
	case len(out) > agentmsg.MaxClientCASize:
		return nil, ReasonKubeletClientCAInvalid, false, fmt.Errorf("The CA bundle of Secret %s/%s (kubeletAPI.clientCASecretRef) is %d bytes, over the %d the executors can be sent", //nolint:staticcheck // a condition message, a sentence
			ref.Namespace, ref.Name, len(out), agentmsg.MaxClientCASize)
	}
	return out, "", false, nil
}

// degradeForKubeletAPI makes Degraded say why the kubelet API's client CA is not used,
// unless it already says something else that needs a person: one reason at a time, the
// framework's own first.
func degradeForKubeletAPI(mc *mesosv1alpha1.MesosCluster, st *mesosv1alpha1.MesosClusterStatus, reason string, err error) {
	if c := meta.FindStatusCondition(st.Conditions, mesosv1alpha1.ConditionDegraded); c != nil && c.Status == metav1.ConditionTrue {
		return
	}
	setCondition(st, mc.Generation, mesosv1alpha1.ConditionDegraded, true, reason,
		err.Error()+": the executors accept bearer tokens only, and refuse the API server's kubectl logs and exec to agent Nodes")
}
