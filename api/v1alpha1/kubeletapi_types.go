package v1alpha1

// DefaultKubeletAPIPort is the port the executors serve the kubelet API on unless
// spec.kubeletAPI.port says otherwise: away from a real kubelet's 10250, which agents
// that also run one (the kubelet runtime) have taken.
const DefaultKubeletAPIPort int32 = 10350

// KubeletAPISpec says how the executor on each agent serves the kubelet's API for the
// agent's Node: what the API server calls for `kubectl logs`, `exec`, `attach`,
// `port-forward`, and what metrics-server scrapes for `kubectl top`. Every request is
// authenticated (a client certificate of clientCASecretRef's CA, or a bearer token the
// API server reviews) and authorized by the API server (a SubjectAccessReview on
// nodes/proxy, nodes/log, nodes/stats…), as a kubelet's port 10250 is. See
// docs/security.md.
type KubeletAPISpec struct {
	// enabled: the executors serve the API and the agent Nodes advertise its port in
	// status.daemonEndpoints. On by default; false leaves no port open on the agents,
	// and the API server then fails `kubectl logs` and `exec` as for an unreachable
	// kubelet.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`

	// port the executors serve the API on, on the agent's IP (the agent Node's
	// InternalIP; every address of the host where that is not one of its own). Default
	// 10350; 0 also means the default.
	// +optional
	// +kubebuilder:default=10350
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// clientCASecretRef names a Secret in the manager's namespace holding the CA bundle
	// (PEM, key defaults to ca.crt) that signed the API server's
	// --kubelet-client-certificate. A client certificate it signed is accepted: its
	// common name is the user, its organizations the groups. Without it only bearer
	// tokens are accepted (metrics-server's, say), and `kubectl logs` and `exec`,
	// which the API server makes with its client certificate, are refused (401).
	// +optional
	ClientCASecretRef *SecretKeyRef `json:"clientCASecretRef,omitempty"`

	// servingCertificate is where each executor's serving certificate comes from.
	// SelfSigned (the default): the executor signs its own, which an API server without
	// --kubelet-certificate-authority accepts, as it accepts any kubelet's.
	// KubeletServingSigner: the executor sends the manager a certificate request for its
	// agent's Node, and the manager files it as a CertificateSigningRequest for the
	// cluster's kubernetes.io/kubelet-serving signer, approves it (only for that Node's
	// name, hostname and IP), and hands the executor the certificate, which an API
	// server with --kubelet-certificate-authority (the signer's CA) verifies. Until then,
	// or where no signer runs, the executor serves its self-signed one.
	// +optional
	// +kubebuilder:default=SelfSigned
	ServingCertificate ServingCertificateSource `json:"servingCertificate,omitempty"`
}

// ServingCertificateSource says where the executors' kubelet API serving certificates
// come from.
// +kubebuilder:validation:Enum=SelfSigned;KubeletServingSigner
type ServingCertificateSource string

const (
	// ServingCertificateSelfSigned: each executor signs its own certificate.
	ServingCertificateSelfSigned ServingCertificateSource = "SelfSigned"
	// ServingCertificateKubeletServingSigner: the cluster's kubernetes.io/kubelet-serving
	// signer signs each executor's certificate, through a CertificateSigningRequest the
	// manager files and approves.
	ServingCertificateKubeletServingSigner ServingCertificateSource = "KubeletServingSigner"
)

// KubeletAPIPort is the port the executors serve the kubelet API on, and the agent
// Nodes advertise; 0 when spec.kubeletAPI.enabled is false.
func (s *MesosClusterSpec) KubeletAPIPort() int32 {
	k := s.KubeletAPI
	switch {
	case k.Enabled != nil && !*k.Enabled:
		return 0
	case k.Port == 0:
		return DefaultKubeletAPIPort
	}
	return k.Port
}

// KubeletServingSigner says whether the executors ask for certificates of the cluster's
// kubernetes.io/kubelet-serving signer: spec.kubeletAPI.servingCertificate says so and
// they serve at all.
func (s *MesosClusterSpec) KubeletServingSigner() bool {
	return s.KubeletAPIPort() != 0 && s.KubeletAPI.ServingCertificate == ServingCertificateKubeletServingSigner
}
