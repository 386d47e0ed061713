package kubeletapi

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/k8sm/k8sm/executor/podlogs"
)

func TestParseLogOptions(t *testing.T) {
	all, stdout, stderr := ptr.To(corev1.LogStreamAll), ptr.To(corev1.LogStreamStdout), ptr.To(corev1.LogStreamStderr)
	// The codec reads times as local ones.
	since := metav1.NewTime(time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC).Local())
	const badQuery, invalid = `{"message": "Unable to decode query."}`, `{"message": "Invalid request."}`
	for _, tc := range []struct {
		query    string
		want     *corev1.PodLogOptions
		wantCode int
		wantBody string
	}{
		{query: "", want: &corev1.PodLogOptions{Stream: all}},
		{query: "follow=true&tailLines=10&timestamps=1&previous=false&limitBytes=5&container=x&insecureSkipTLSVerifyBackend=true",
			want: &corev1.PodLogOptions{Follow: true, TailLines: ptr.To[int64](10), Timestamps: true, LimitBytes: ptr.To[int64](5),
				Container: "x", InsecureSkipTLSVerifyBackend: true, Stream: all}},
		// Booleans are false for "0" and "false" only, in any case.
		{query: "follow=FALSE&timestamps=0&previous=", want: &corev1.PodLogOptions{Previous: true, Stream: all}},
		{query: "follow=yes", want: &corev1.PodLogOptions{Follow: true, Stream: all}},
		// The first value counts.
		{query: "tailLines=1&tailLines=2", want: &corev1.PodLogOptions{TailLines: ptr.To[int64](1), Stream: all}},
		// The legacy tail parameter, "all" for no tail.
		{query: "tail=5", want: &corev1.PodLogOptions{TailLines: ptr.To[int64](5), Stream: all}},
		{query: "tail=all&tailLines=3", want: &corev1.PodLogOptions{Stream: all}},
		{query: "tail=&tailLines=3", want: &corev1.PodLogOptions{TailLines: ptr.To[int64](3), Stream: all}},
		{query: "sinceTime=2026-01-02T15:04:05Z", want: &corev1.PodLogOptions{SinceTime: &since, Stream: all}},
		{query: "sinceSeconds=30", want: &corev1.PodLogOptions{SinceSeconds: ptr.To[int64](30), Stream: all}},
		{query: "stream=Stdout", want: &corev1.PodLogOptions{Stream: stdout}},
		{query: "stream=Stderr&limitBytes=1", want: &corev1.PodLogOptions{Stream: stderr, LimitBytes: ptr.To[int64](1)}},
		{query: "tailLines=ten", wantCode: 400, wantBody: badQuery},
		{query: "limitBytes=1.5", wantCode: 400, wantBody: badQuery},
		{query: "sinceTime=yesterday", wantCode: 400, wantBody: badQuery},
		{query: "tail=x", wantCode: 400, wantBody: badQuery},
		{query: "tailLines=-1", wantCode: 422, wantBody: invalid},
		{query: "limitBytes=0", wantCode: 422, wantBody: invalid},
		{query: "sinceSeconds=0", wantCode: 422, wantBody: invalid},
		{query: "sinceSeconds=10&sinceTime=2026-01-02T15:04:05Z", wantCode: 422, wantBody: invalid},
		{query: "stream=Stdout&tailLines=1", wantCode: 422, wantBody: invalid},
		{query: "stream=All&tailLines=1", want: &corev1.PodLogOptions{Stream: all, TailLines: ptr.To[int64](1)}},
		{query: "stream=stdout", wantCode: 422, wantBody: invalid},
	} {
		t.Run(tc.query, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			got, code, body := parseLogOptions(q)
			if !reflect.DeepEqual(got, tc.want) || code != tc.wantCode || body != tc.wantBody {
				t.Errorf("parseLogOptions = %+v, %d, %q; want %+v, %d, %q", got, code, body, tc.want, tc.wantCode, tc.wantBody)
			}
		})
	}
}

// writeLog writes a container's instance through podlogs, as a runtime will.
func writeLog(t *testing.T, dir string, restart int, stdout, stderr string) *podlogs.Log {
	t.Helper()
	l, err := podlogs.Open(dir, restart, podlogs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Stream(podlogs.Stdout).Write([]byte(stdout)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Stream(podlogs.Stderr).Write([]byte(stderr)); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestContainerLogs(t *testing.T) {
	s := startServer(t)
	admin := s.clientCA.client(t, "admin")
	dir := filepath.Join(s.provider.dir, "app")
	_ = writeLog(t, dir, 0, "first run\n", "").Close()
	_ = writeLog(t, dir, 1, "one\ntwo\n", "oops\n").Close()
	s.provider.ended = make(chan struct{})
	close(s.provider.ended)
	for _, tc := range []struct {
		path     string
		method   string
		wantCode int
		want     string
	}{
		{path: "/containerLogs/ns/web/app", wantCode: 200, want: "one\ntwo\noops\n"},
		{path: "/containerLogs/ns/web/app?previous=true", wantCode: 200, want: "first run\n"},
		{path: "/containerLogs/ns/web/app?tailLines=1", wantCode: 200, want: "oops\n"},
		{path: "/containerLogs/ns/web/app?tail=2&limitBytes=5", wantCode: 200, want: "two\no"},
		{path: "/containerLogs/ns/web/app?stream=Stderr", wantCode: 200, want: "oops\n"},
		{path: "/containerLogs/ns/web/app?stream=Stdout&sinceSeconds=3600", wantCode: 200, want: "one\ntwo\n"},
		{path: "/containerLogs/ns/web/app?follow=true", wantCode: 200, want: "one\ntwo\noops\n"},
		{path: "/containerLogs/ns/web/app?tailLines=x", wantCode: 400, want: `{"message": "Unable to decode query."}`},
		{path: "/containerLogs/ns/web/app?tailLines=-2", wantCode: 422, want: `{"message": "Invalid request."}`},
		{path: "/containerLogs/ns/nope/app", wantCode: 404, want: `pod "nope" does not exist`},
		{path: "/containerLogs/other/web/app", wantCode: 404, want: `pod "web" does not exist`},
		{path: "/containerLogs/ns/web/nope", wantCode: 404, want: `container "nope" not found in pod "web"`},
		// A container without logs: the provider's error, 400 as the kubelet's.
		{path: "/containerLogs/ns/web/side", wantCode: 400, want: "container log not found: no log of instance 1 in " + filepath.Join(s.provider.dir, "side")},
		{path: "/containerLogs/ns/web/app", method: "POST", wantCode: 405, want: "Method Not Allowed"},
		{path: "/containerLogs/ns/web", wantCode: 404},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			code, body := s.do(t, s.client(&admin), method, tc.path, "")
			if code != tc.wantCode || (tc.want != "" && body != tc.want) {
				t.Errorf("got %d %q, want %d %q", code, body, tc.wantCode, tc.want)
			}
		})
	}
}

// TestFollowContainerLogs: a followed log is sent as it is written, and ends when the
// instance does.
func TestFollowContainerLogs(t *testing.T) {
	s := startServer(t)
	admin := s.clientCA.client(t, "admin")
	l := writeLog(t, filepath.Join(s.provider.dir, "app"), 1, "before\n", "")
	s.provider.ended = make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/containerLogs/ns/web/app?follow=1&timestamps=true", nil)
	resp, err := s.client(&admin).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	lines := bufio.NewReader(resp.Body)
	readLine := func() string {
		line, err := lines.ReadString('\n')
		if err != nil {
			t.Fatalf("read %q: %v", line, err)
		}
		_, content, _ := strings.Cut(line, " ")
		return content
	}
	if got := readLine(); got != "before\n" {
		t.Errorf("first line %q", got)
	}
	for i := range 3 {
		if _, err := fmt.Fprintf(l.Stream(podlogs.Stdout), "after %d\n", i); err != nil {
			t.Fatal(err)
		}
		if got, want := readLine(), fmt.Sprintf("after %d\n", i); got != want {
			t.Errorf("line %q, want %q", got, want)
		}
	}
	_ = l.Close()
	close(s.provider.ended)
	if rest, err := lines.ReadString('\n'); rest != "" || err == nil {
		t.Errorf("after the end: %q, %v; want the end of the response", rest, err)
	}
}
