package process

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// HTTP probes behave as the kubelet's: an HTTPS server's certificate is not verified, a
// redirect to another host is not followed and counts as success, one to the same host
// is, and the request names kube-probe as its User-Agent.
func TestHTTPProbeAsTheKubelet(t *testing.T) {
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	defer failing.Close()
	_, failingPort, _ := net.SplitHostPort(strings.TrimPrefix(failing.URL, "http://"))
	elsewhere := "http://localhost:" + failingPort + "/" // another hostname than 127.0.0.1
	for _, tc := range []struct {
		name    string
		tls     bool
		handler http.HandlerFunc
		headers []corev1.HTTPHeader
		ok      bool
	}{
		{"HTTPS with a self-signed certificate", true, func(w http.ResponseWriter, _ *http.Request) {}, nil, true},
		{"HTTPS answering 500", true, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }, nil, false},
		{"redirect to another host: not followed, success", false, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere, http.StatusFound)
		}, nil, true},
		{"redirect to the same host: followed", false, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/" {
				http.Redirect(w, r, "/bad", http.StatusFound)
				return
			}
			w.WriteHeader(http.StatusServiceUnavailable)
		}, nil, false},
		{"kubelet's headers", false, func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasPrefix(r.UserAgent(), "kube-probe/") || r.Header.Get("Accept") != "*/*" || r.Host != "web.example" || r.URL.RawQuery != "q=1" {
				w.WriteHeader(http.StatusBadRequest)
			}
		}, []corev1.HTTPHeader{{Name: "Host", Value: "web.example"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(tc.handler)
			scheme := corev1.URISchemeHTTP
			if tc.tls {
				srv.StartTLS()
				scheme = corev1.URISchemeHTTPS
			} else {
				srv.Start()
			}
			defer srv.Close()
			u, _ := url.Parse(srv.URL)
			port, _ := strconv.Atoi(u.Port())
			pr := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/?q=1", Port: intstr.FromInt(port), Scheme: scheme, HTTPHeaders: tc.headers}}}
			err := (&pod{}).check(context.Background(), &container{}, nil, pr)
			if (err == nil) != tc.ok {
				t.Fatalf("probe: %v, want success %v", err, tc.ok)
			}
		})
	}
}

// A probe that names no host goes to the pod's IP, as the kubelet's: the agent's address
// (status.podIP), here 127.0.0.2, where a server listening on that address alone answers;
// TCP probes too. Loopback only where the executor knows no address.
func TestProbesGoToThePodsIP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 here: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		name  string
		rt    *Runtime
		probe corev1.ProbeHandler
		ok    bool
	}{
		{"HTTP to the pod's IP", &Runtime{HostIP: "127.0.0.2"}, corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt(port)}}, true},
		{"TCP to the pod's IP", &Runtime{HostIP: "127.0.0.2"}, corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(port)}}, true},
		{"no pod IP: loopback, where nothing listens", &Runtime{}, corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(port)}}, false},
		{"a host named", &Runtime{HostIP: "127.0.0.1"}, corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Host: "127.0.0.2", Port: intstr.FromInt(port)}}, true},
	} {
		err := (&pod{rt: tc.rt}).check(context.Background(), &container{}, nil, &corev1.Probe{ProbeHandler: tc.probe})
		if (err == nil) != tc.ok {
			t.Errorf("%s: probe: %v, want success %v", tc.name, err, tc.ok)
		}
	}
}
