package kubeletapi

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestRoutes(t *testing.T) {
	s := startServer(t)
	admin := s.clientCA.client(t, "admin")
	for _, tc := range []struct {
		method, path string
		wantCode     int
		wantBody     string
	}{
		{"GET", "/healthz", 200, "ok"},
		{"GET", "/healthz/ping", 200, "ok"},
		{"GET", "/healthz/syncloop", 200, "ok"},
		{"GET", "/healthz/nope", 404, "404 page not found\n"},
		{"GET", "/pods/", 200, ""},
		{"POST", "/pods", 405, "Method Not Allowed"},
		{"GET", "/pods/ns/web", 404, "404 page not found\n"},
		{"GET", "/containerLogs//web/app", 404, "404 page not found\n"},
		{"GET", "/containerLogs/ns/web/app/x", 404, "404 page not found\n"},
		{"GET", "/stats/summary", 200, ""},
		{"GET", "/stats/", 404, "404 page not found\n"},
		{"PUT", "/stats/summary", 405, "Method Not Allowed"},
		{"GET", "/metrics/resource", 200, ""},
		{"GET", "/metrics", 404, "404 page not found\n"},
		{"POST", "/metrics/resource", 405, "Method Not Allowed"},
		{"GET", "/exec/ns/web", 404, "404 page not found\n"},
		{"GET", "/portForward/ns", 404, "404 page not found\n"},
		{"GET", "/configz", 404, "404 page not found\n"},
		{"GET", "/", 404, "404 page not found\n"},
	} {
		code, body := s.do(t, s.client(&admin), tc.method, tc.path, "")
		if code != tc.wantCode || (tc.wantBody != "" && body != tc.wantBody) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, code, body, tc.wantCode, tc.wantBody)
		}
	}
}

func TestPods(t *testing.T) {
	s := startServer(t)
	admin := s.clientCA.client(t, "admin")
	resp, err := s.client(&admin).Get(s.url + "/pods")
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var list corev1.PodList
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	if list.Kind != "PodList" || list.APIVersion != "v1" || len(list.Items) != 2 ||
		list.Items[0].Name != "web" || list.Items[0].Spec.Containers[1].Name != "side" {
		t.Errorf("pods %s", body)
	}
}
