package taskapi

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/user"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// AuthenticationConfigMap is where kube-apiserver publishes how an extension API server
// is to authenticate it: kube-system/extension-apiserver-authentication.
var AuthenticationConfigMap = types.NamespacedName{Namespace: "kube-system", Name: "extension-apiserver-authentication"}

// RequestHeader is how kube-apiserver's front proxy says who a request is from: its
// client certificate, signed by CAs and with one of AllowedNames as its common name
// (any, if none are), vouches for the user named in the headers.
type RequestHeader struct {
	CAs                 *x509.CertPool
	AllowedNames        []string
	UsernameHeaders     []string
	UIDHeaders          []string
	GroupHeaders        []string
	ExtraHeaderPrefixes []string
}

// ParseRequestHeader reads the front proxy's configuration from the ConfigMap's data
// (the requestheader-* keys, lists as JSON arrays).
func ParseRequestHeader(data map[string]string) (*RequestHeader, error) {
	ca := data["requestheader-client-ca-file"]
	if ca == "" {
		return nil, fmt.Errorf("%s has no requestheader-client-ca-file: kube-apiserver was started without --requestheader-client-ca-file, and cannot proxy to aggregated APIs", AuthenticationConfigMap)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(ca)) {
		return nil, fmt.Errorf("%s: requestheader-client-ca-file holds no certificate", AuthenticationConfigMap)
	}
	rh := &RequestHeader{CAs: pool}
	for key, into := range map[string]*[]string{
		"requestheader-allowed-names":        &rh.AllowedNames,
		"requestheader-username-headers":     &rh.UsernameHeaders,
		"requestheader-uid-headers":          &rh.UIDHeaders,
		"requestheader-group-headers":        &rh.GroupHeaders,
		"requestheader-extra-headers-prefix": &rh.ExtraHeaderPrefixes,
	} {
		if v := data[key]; v != "" {
			if err := json.Unmarshal([]byte(v), into); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", AuthenticationConfigMap, key, err)
			}
		}
	}
	if len(rh.UsernameHeaders) == 0 {
		return nil, fmt.Errorf("%s has no requestheader-username-headers", AuthenticationConfigMap)
	}
	return rh, nil
}

// FrontProxy authenticates requests by the front proxy's certificate and headers, as
// kube-apiserver's request-header authenticator does.
type FrontProxy struct {
	config atomic.Pointer[RequestHeader]
	// Now is the clock certificates are checked at (time.Now if nil).
	Now func() time.Time
}

// Set replaces the configuration (the ConfigMap changed).
func (f *FrontProxy) Set(rh *RequestHeader) { f.config.Store(rh) }

// errNotConfigured is the error of a request before the configuration was read.
var errNotConfigured = errors.New("the front proxy's configuration has not been read yet")

// Authenticate names the user the front proxy vouches for.
func (f *FrontProxy) Authenticate(r *http.Request) (user.Info, bool, error) {
	rh := f.config.Load()
	if rh == nil {
		return nil, false, errNotConfigured
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	certs := r.TLS.PeerCertificates
	opts := x509.VerifyOptions{Roots: rh.CAs, Intermediates: x509.NewCertPool(), CurrentTime: now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(opts); err != nil {
		return nil, false, nil
	}
	if len(rh.AllowedNames) > 0 && !slices.Contains(rh.AllowedNames, certs[0].Subject.CommonName) {
		return nil, false, nil
	}
	name := firstValue(r.Header, rh.UsernameHeaders)
	if name == "" {
		return nil, false, nil
	}
	u := &user.DefaultInfo{Name: name, UID: firstValue(r.Header, rh.UIDHeaders)}
	for _, h := range rh.GroupHeaders {
		u.Groups = append(u.Groups, r.Header.Values(h)...)
	}
	u.Extra = extraOf(r.Header, rh.ExtraHeaderPrefixes...)
	return u, true, nil
}

// extraOf is a user's extra, from the headers named by a prefix and its key, lower case
// and escaped as kube-apiserver writes them. Nil if there are none.
func extraOf(h http.Header, prefixes ...string) map[string][]string {
	var extra map[string][]string
	for key, values := range h {
		for _, prefix := range prefixes {
			rest, ok := cutPrefixFold(key, prefix)
			if !ok || rest == "" {
				continue
			}
			k, err := url.PathUnescape(rest)
			if err != nil {
				k = rest
			}
			if extra == nil {
				extra = map[string][]string{}
			}
			extra[strings.ToLower(k)] = append(extra[strings.ToLower(k)], values...)
		}
	}
	return extra
}

func firstValue(h http.Header, names []string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}

// FrontProxyLoader keeps a FrontProxy's configuration as kube-apiserver publishes it:
// read at start, then every refreshEvery (kube-apiserver rewrites the ConfigMap when its
// flags or CA files change).
type FrontProxyLoader struct {
	Reader client.Reader
	Proxy  *FrontProxy
	Log    logr.Logger
}

const (
	refreshEvery = time.Minute
	retryEvery   = 5 * time.Second
)

// NeedLeaderElection is false: every replica serves.
func (l *FrontProxyLoader) NeedLeaderElection() bool { return false }

// Start reads the configuration until ctx ends.
func (l *FrontProxyLoader) Start(ctx context.Context) error {
	last := ""
	repeat(ctx, l.Log.WithValues("configMap", AuthenticationConfigMap), "Reading how kube-apiserver authenticates to the MesosTasks API",
		refreshEvery, retryEvery, func(ctx context.Context) error {
			var cm corev1.ConfigMap
			if err := l.Reader.Get(ctx, AuthenticationConfigMap, &cm); err != nil {
				return err
			}
			rh, err := ParseRequestHeader(cm.Data)
			if err != nil || cm.ResourceVersion == last {
				return err
			}
			l.Proxy.Set(rh)
			last = cm.ResourceVersion
			l.Log.V(1).Info("Read how kube-apiserver authenticates to the MesosTasks API", "configMap", AuthenticationConfigMap, "allowedNames", rh.AllowedNames)
			return nil
		})
	return nil
}
