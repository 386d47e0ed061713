package controllers

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"

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

// kubeletAPIStatus reads the kubelet API's client CA (see kubeletClientCA) and adds to
// degraded what keeps the executors from serving the kubelet API.
func (r *MesosClusterReconciler) kubeletAPIStatus(ctx context.Context, mc *mesosv1alpha1.MesosCluster, degraded degradation) (ca []byte, caReadFailed bool, _ degradation) {
	ca, reason, caReadFailed, err := r.kubeletClientCA(ctx, mc)
	if err != nil {
		degraded = degraded.or(kubeletAPIDegradation(reason, err))
	}
	if s := r.Registry.Scheduler(mc.Name); s != nil {
		if nodes := s.KubeletAPIPortTaken(); len(nodes) > 0 {
			degraded = degraded.or(portTakenDegradation(mc, nodes))
		}
	}
	return ca, caReadFailed, degraded
}

// portTakenDegradation is Degraded for the Nodes whose executors cannot serve the
// kubelet API.
func portTakenDegradation(mc *mesosv1alpha1.MesosCluster, nodes []string) degradation {
	named := strings.Join(nodes[:min(len(nodes), maxNodesNamed)], ", ")
	if len(nodes) > maxNodesNamed {
		named += fmt.Sprintf(" and %d more", len(nodes)-maxNodesNamed)
	}
	return degradation{true, ReasonKubeletAPIPortTaken, fmt.Sprintf(
		"A process that is no executor of the cluster holds the kubelet API port (spec.kubeletAPI.port, %d) on the agents of %d Node(s): %s; "+
			"those Nodes advertise no kubelet API port meanwhile, and kubectl logs and exec to their pods fail (their KubeletAPIPortTaken events say where)",
		mc.Spec.KubeletAPIPort(), len(nodes), named)}
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
	key := ref.CAKey()
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

// kubeletAPIDegradation is Degraded for a kubelet API client CA that is not used.
func kubeletAPIDegradation(reason string, err error) degradation {
	return degradation{true, reason,
		err.Error() + ": the executors accept bearer tokens only, and refuse the API server's kubectl logs and exec to agent Nodes"}
}
