// Package agentmsg is what a k8sm executor and the manager say to each other in Mesos
// framework messages (the scheduler's MESSAGE call and the executor's), which Mesos
// relays between them and does not store. The executor serves the kubelet API for its
// agent's Node but holds no Kubernetes credentials: it asks the manager the questions a
// kubelet asks the API server (is this bearer token valid, may this user do this to this
// Node), and the manager answers. See docs/architecture.md, "The kubelet API on agent
// Nodes".
package agentmsg

import (
	"encoding/json"
	"errors"
	"fmt"
)

// MaxSize bounds a message either way. Mesos relays framework messages whole, through
// the master; reviews and their answers are a few hundred bytes, and the largest parts
// of the others have bounds of their own that fit under it with the JSON around them:
// a Config's CA bundle (MaxClientCASize), a certificate request (MaxCSRSize), a
// certificate and its chain (MaxCertificateSize).
const MaxSize = 64 << 10

// Kinds of message.
const (
	// KindTokenReview asks whether a bearer token is valid, and whose it is.
	KindTokenReview = "TokenReview"
	// KindAccessReview asks whether a user may do something to the executor's Node.
	KindAccessReview = "AccessReview"
	// KindAnswer answers the request of the same ID.
	KindAnswer = "Answer"
	// KindHello asks the manager for the executor's Config. An executor sends it after
	// each subscription to its agent, and again every few minutes.
	KindHello = "Hello"
	// KindConfig is the executor's kubelet API configuration: the answer to a Hello (of
	// its ID), or sent unasked when the MesosCluster changes it.
	KindConfig = "Config"
	// KindServingCSR asks the manager for a serving certificate of the cluster's
	// kubelet-serving signer for the executor's Node (Config.ServingCertificate).
	KindServingCSR = "ServingCSR"
	// KindServingCertificate answers a ServingCSR (of its ID): the certificate, or why
	// there is none.
	KindServingCertificate = "ServingCertificate"
)

// ServingCertificateSigner is Config.ServingCertificate when the executor is to ask for
// a certificate of the cluster's kubernetes.io/kubelet-serving signer.
const ServingCertificateSigner = "KubeletServingSigner"

const (
	// MaxClientCASize bounds Config.ClientCA, so that a Config fits in a message.
	MaxClientCASize = 48 << 10
	// MaxCSRSize bounds ServingCSR.Request: a PEM request for an RSA 4096 key, the
	// largest the manager takes, is under 2 KiB.
	MaxCSRSize = 8 << 10
	// MaxCertificateSize bounds ServingCertificate.Certificate: a certificate and its
	// chain, each under 2 KiB as signers make them.
	MaxCertificateSize = 32 << 10
)

// Message is one framework message.
type Message struct {
	Kind string `json:"kind"`
	// ID ties an answer to its request; the executor chooses it.
	ID           string        `json:"id"`
	TokenReview  *TokenReview  `json:"tokenReview,omitempty"`
	AccessReview *AccessReview `json:"accessReview,omitempty"`
	Answer       *Answer       `json:"answer,omitempty"`
	Hello        *Hello        `json:"hello,omitempty"`
	Config       *Config       `json:"config,omitempty"`
	// ServingCSR and ServingCertificate are KindServingCSR's and
	// KindServingCertificate's.
	ServingCSR         *ServingCSR         `json:"servingCSR,omitempty"`
	ServingCertificate *ServingCertificate `json:"servingCertificate,omitempty"`
}

// Hello says the executor is there and asks for its Config. The manager knows the agent,
// and so the Node, from the message itself.
type Hello struct {
	// Port is the port the executor serves the kubelet API on now, 0 if none: the
	// agent's Node advertises the cluster's port only while an executor there says it
	// serves it. The executor says Hello at once when it changes.
	Port int32 `json:"port,omitempty"`
	// PortTaken says the executor cannot serve on its Config's port because a process
	// that is no executor of the cluster on the agent holds it (the agent's Node then
	// advertises no port, and clients dial their default one); the manager records it on
	// the Node. Nil when the executor serves, or another executor of the cluster on the
	// agent holds the port (and serves this one's pods too).
	PortTaken *PortTaken `json:"portTaken,omitempty"`
}

// PortTaken is where an executor tried to serve the kubelet API, and what it was told.
type PortTaken struct {
	// Address is host:port as the executor listened.
	Address string `json:"address"`
	// Error is the listen error, e.g. "bind: address already in use".
	Error string `json:"error,omitempty"`
}

// Config is what an executor serves the kubelet API with. All of it is public: the
// executor holds no secret of the cluster's.
type Config struct {
	// NodeName is the Node of the executor's agent, as the manager names it: the Node
	// authorization asks about.
	NodeName string `json:"nodeName"`
	// Port to serve on; 0: serve nothing (spec.kubeletAPI.enabled is false).
	Port int32 `json:"port,omitempty"`
	// ClientCA is the PEM bundle of the CAs whose client certificates are accepted (the
	// API server's kubelet client certificate's); empty: only bearer tokens are.
	ClientCA string `json:"clientCA,omitempty"`
	// ServingCertificate is ServingCertificateSigner when the executor is to ask the
	// manager for a certificate of the cluster's signer (a ServingCSR); empty: it serves
	// a self-signed one.
	ServingCertificate string `json:"servingCertificate,omitempty"`
}

// ServingCSR asks for a serving certificate for the executor's Node. The executor keeps
// the key; the manager checks the request names only the Node of the agent the message
// came from, and that agent's hostname and IP, before it files it (internal/servingcert).
type ServingCSR struct {
	// Request is a PEM CERTIFICATE REQUEST, as a kubelet makes for kubelet-serving.
	Request string `json:"request"`
}

// ServingCertificate answers a ServingCSR.
type ServingCertificate struct {
	// Certificate is the PEM certificate the signer issued, then its chain, if any.
	Certificate string `json:"certificate,omitempty"`
	// Error says why there is none: the request was refused, or no signer issued it in
	// time. The executor keeps the certificate it serves, and asks again later.
	Error string `json:"error,omitempty"`
}

// TokenReview asks about a bearer token presented to the executor's kubelet API.
type TokenReview struct {
	Token string `json:"token"`
	// Audiences the token must be for; empty: the API server's.
	Audiences []string `json:"audiences,omitempty"`
}

// User is who a token or a client certificate names.
type User struct {
	Name   string              `json:"name"`
	UID    string              `json:"uid,omitempty"`
	Groups []string            `json:"groups,omitempty"`
	Extra  map[string][]string `json:"extra,omitempty"`
}

// AccessReview asks whether User may do Verb to Subresource of the executor's Node (the
// attributes a kubelet builds for a request: resource nodes, subresource proxy, log,
// stats, metrics, pods…). The Node is the manager's to name: it is the Node of the
// agent the message came from, never one the executor names.
type AccessReview struct {
	User        User   `json:"user"`
	Verb        string `json:"verb"`
	Subresource string `json:"subresource"`
}

// Answer answers a TokenReview (Authenticated, User) or an AccessReview (Allowed).
type Answer struct {
	Authenticated bool   `json:"authenticated,omitempty"`
	User          *User  `json:"user,omitempty"`
	Allowed       bool   `json:"allowed,omitempty"`
	Reason        string `json:"reason,omitempty"`
	// Error says the question could not be answered (the API server failed): neither
	// yes nor no; the executor answers its caller 503 rather than 401/403.
	Error string `json:"error,omitempty"`
}

// Encode is the message as sent.
func Encode(m *Message) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("a %s message of %d bytes is over %d", m.Kind, len(b), MaxSize)
	}
	return b, nil
}

// Decode reads a message, refusing what is oversized, not one, or missing the part its
// kind needs.
func Decode(b []byte) (*Message, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("a message of %d bytes is over %d", len(b), MaxSize)
	}
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("not a k8sm agent message: %w", err)
	}
	if m.ID == "" {
		return nil, errors.New("a message without an id")
	}
	var ok bool
	switch m.Kind {
	case KindTokenReview:
		ok = m.TokenReview != nil && m.TokenReview.Token != ""
	case KindAccessReview:
		ok = m.AccessReview != nil && m.AccessReview.User.Name != "" && m.AccessReview.Verb != ""
	case KindAnswer:
		ok = m.Answer != nil
	case KindHello:
		ok = m.Hello != nil && (m.Hello.PortTaken == nil || m.Hello.PortTaken.Address != "")
	case KindConfig:
		c := m.Config
		ok = c != nil && c.NodeName != "" && c.Port >= 0 && c.Port <= 65535 && len(c.ClientCA) <= MaxClientCASize
	case KindServingCSR:
		ok = m.ServingCSR != nil && m.ServingCSR.Request != "" && len(m.ServingCSR.Request) <= MaxCSRSize
	case KindServingCertificate:
		c := m.ServingCertificate
		ok = c != nil && (c.Certificate == "") != (c.Error == "") && len(c.Certificate) <= MaxCertificateSize
	default:
		return nil, fmt.Errorf("a message of unknown kind %q", m.Kind)
	}
	if !ok {
		return nil, fmt.Errorf("a %s message without what it asks or answers", m.Kind)
	}
	return &m, nil
}
