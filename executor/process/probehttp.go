package process

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// HTTP probes and httpGet hooks as the kubelet makes them (k8s.io/kubernetes
// pkg/probe/http): no proxy, no keep-alive, no compression; an HTTPS server's
// certificate is not verified (a probe asks whether the server answers, not who it is);
// redirects are followed on the same host only, 10 at most, and a redirect to another
// host ends the probe with that redirect, which counts as success (the kubelet's
// "Probe terminated redirects" warning); 200-399 is success; the request says
// User-Agent kube-probe/<version> and Accept */* unless the probe sets them, and its
// Host header, when it names one, is the request's host.

// probeTransport is shared by every HTTP probe: it keeps no connection.
var probeTransport = &http.Transport{
	TLSClientConfig:    &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the kubelet does not verify a probe's certificate either
	DisableKeepAlives:  true,
	Proxy:              nil,
	DisableCompression: true,
	DialContext:        (&net.Dialer{}).DialContext,
}

var probeClient = &http.Client{Transport: probeTransport, CheckRedirect: sameHostRedirects}

// sameHostRedirects follows redirects to the probe's own host, 10 at most.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// maxProbeBody is how much of an answer a probe reads, as the kubelet.
const maxProbeBody = 10 << 10

// httpGet runs one HTTP GET probe: nil when it answered 200-399.
func httpGet(ctx context.Context, get *corev1.HTTPGetAction, c *corev1.Container, podIP, purpose string) error {
	code, err := doGet(ctx, get, c, podIP, purpose)
	if err == nil && (code < http.StatusOK || code >= http.StatusBadRequest) {
		err = fmt.Errorf("HTTP probe failed with statuscode: %d", code)
	}
	return err
}

// doGet makes an HTTPGetAction's request, reads (a bounded part of) its answer as the
// kubelet does, and returns its status code: an httpGet hook fails only when no answer
// comes, a probe also on the code.
func doGet(ctx context.Context, get *corev1.HTTPGetAction, c *corev1.Container, podIP, purpose string) (int, error) {
	req, err := probeRequest(ctx, get, c, podIP, purpose)
	if err != nil {
		return 0, err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxProbeBody))
	return resp.StatusCode, nil
}

// probeRequest is the request of an HTTPGetAction, against the pod's IP where it names
// no host (probeHost).
func probeRequest(ctx context.Context, get *corev1.HTTPGetAction, c *corev1.Container, podIP, purpose string) (*http.Request, error) {
	port, err := portOf(get.Port, c)
	if err != nil {
		return nil, err
	}
	host := probeHost(get.Host, podIP)
	scheme := strings.ToLower(string(get.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	u, err := url.Parse(get.Path)
	if err != nil {
		u = &url.URL{Path: get.Path}
	}
	u.Scheme, u.Host = scheme, net.JoinHostPort(host, strconv.Itoa(port))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	for _, hh := range get.HTTPHeaders {
		h.Add(hh.Name, hh.Value)
	}
	if _, ok := h["User-Agent"]; !ok {
		h.Set("User-Agent", "kube-"+purpose+"/"+kubeVersion)
	}
	if _, ok := h["Accept"]; !ok {
		h.Set("Accept", "*/*")
	} else if h.Get("Accept") == "" {
		h.Del("Accept")
	}
	req.Header, req.Host = h, h.Get("Host")
	return req, nil
}

// kubeVersion is the Kubernetes minor version whose API this runtime implements
// ("1.37" for k8s.io/api v0.37.x), as the kubelet's User-Agent names its own.
var kubeVersion = func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "k8s.io/api" {
				parts := strings.Split(strings.TrimPrefix(m.Version, "v"), ".")
				if len(parts) >= 2 && parts[0] == "0" {
					return "1." + parts[1]
				}
			}
		}
	}
	return "1"
}()

// probeHost is where a probe or an httpGet hook that names no host goes: the pod's IP,
// as a kubelet sends it. The processes share the agent's network, so that is the agent's
// address (status.podIP); loopback where the executor knows none.
func probeHost(named, podIP string) string {
	switch {
	case named != "":
		return named
	case podIP != "":
		return podIP
	}
	return "127.0.0.1"
}

// ip is the pod's IP, status.podIP: the agent's address, "" where it is not known.
func (p *pod) ip() string {
	if p.rt == nil {
		return ""
	}
	return p.rt.HostIP
}
