package chaos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// fakeAPI answers a list of pods with an empty PodList and a watch of pods with one
// event, then holds the watch open until its client goes.
func fakeAPI(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("watch") != "true" {
			_, _ = fmt.Fprint(w, `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":[]}`)
			return
		}
		_, _ = fmt.Fprintln(w, `{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"8"}}}`)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv
}

func proxyTo(t *testing.T, upstream string) *apiProxy {
	t.Helper()
	p, err := startProxy(&rest.Config{Host: upstream}, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	return p
}

// watchEvent opens a watch through the proxy and reads its first event's type and the
// code of its object, and returns the stream's reader.
func watchEvent(t *testing.T, p *apiProxy, query string) (string, int, *bufio.Reader, func()) {
	t.Helper()
	resp, err := http.Get(p.url + "/api/v1/pods?watch=true" + query)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("the watch's first event: %v", err)
	}
	var ev struct {
		Type   string `json:"type"`
		Object struct {
			Reason string `json:"reason"`
			Code   int    `json:"code"`
		} `json:"object"`
	}
	if err := json.Unmarshal([]byte(line), &ev); err != nil {
		t.Fatalf("the watch's first event %q: %v", line, err)
	}
	return ev.Type, ev.Object.Code, br, func() { _ = resp.Body.Close() }
}

func TestProxyBreaksWatches(t *testing.T) {
	p := proxyTo(t, fakeAPI(t).URL)

	typ, _, br, done := watchEvent(t, p, "&resourceVersion=7")
	defer done()
	if typ != "BOOKMARK" {
		t.Fatalf("a watch before the fault got %s, want the API server's event", typ)
	}
	if n := p.breakWatches(1); n != 1 {
		t.Fatalf("breakWatches ended %d watches, want the 1 open", n)
	}
	ended := make(chan error, 1)
	go func() { _, err := br.ReadString('\n'); ended <- err }()
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("the broken watch went on with another event")
		}
	case <-time.After(30 * time.Second): // a guard against hanging, not a measurement
		t.Fatal("the watch was not ended")
	}

	// While the fault lasts, a watch resuming from a version is told to list again; one
	// that starts with a list is not.
	for _, c := range []struct {
		query, want string
		code        int
	}{
		{"&resourceVersion=8", "ERROR", http.StatusGone},
		{"", "BOOKMARK", 0},
		{"&resourceVersion=0", "BOOKMARK", 0},
		{"&resourceVersion=8&sendInitialEvents=true", "BOOKMARK", 0},
	} {
		typ, code, _, done := watchEvent(t, p, c.query)
		done()
		if typ != c.want || code != c.code {
			t.Errorf("watch%s during the fault: %s %d, want %s %d", c.query, typ, code, c.want, c.code)
		}
	}
	// client-go, asking for protobuf as the manager does, reads the answer as the 410
	// that makes a reflector list again.
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: p.url, ContentConfig: rest.ContentConfig{
		ContentType: runtime.ContentTypeProtobuf, AcceptContentTypes: runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cs.CoreV1().Pods("").Watch(t.Context(), metav1.ListOptions{ResourceVersion: "8"})
	if err != nil {
		t.Fatal(err)
	}
	ev := <-w.ResultChan()
	w.Stop()
	if ev.Type != watch.Error || !apierrors.IsResourceExpired(apierrors.FromObject(ev.Object)) {
		t.Errorf("client-go read the expired watch as %s %v, want an Error event of a 410 Expired", ev.Type, ev.Object)
	}

	p.setExpired(0)
	if typ, _, _, done := watchEvent(t, p, "&resourceVersion=8"); typ != "BOOKMARK" {
		t.Errorf("a resumed watch after the fault got %s, want the API server's event", typ)
	} else {
		done()
	}
	if s := p.summary(); !strings.Contains(s, "watch-broken=1") || !strings.Contains(s, "watch-expired=2") {
		t.Errorf("summary %q, want 1 watch broken and 2 expired", s)
	}
}

func TestProxyFailsReads(t *testing.T) {
	p := proxyTo(t, fakeAPI(t).URL)
	get := func() int {
		resp, err := http.Get(p.url + "/api/v1/pods")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}

	p.setReadErrors(1)
	seen := map[int]bool{}
	for range 30 {
		seen[get()] = true
	}
	for _, code := range []int{http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusServiceUnavailable} {
		if !seen[code] {
			t.Errorf("30 reads during read-errors at 100%% got codes %v, none %d", seen, code)
		}
	}
	if seen[http.StatusOK] {
		t.Errorf("a read passed during read-errors at 100%%")
	}
	if typ, _, _, done := watchEvent(t, p, "&resourceVersion=7"); typ != "BOOKMARK" {
		t.Errorf("a watch during read-errors got %s, want the API server's event", typ)
	} else {
		done()
	}
	p.setReadErrors(0)
	if code := get(); code != http.StatusOK {
		t.Errorf("a read after read-errors got %d, want 200", code)
	}
}

// eventAPI answers a list of pods with an empty PodList and streams a watch of pods
// whose events are the lines sent on the returned channel.
func eventAPI(t *testing.T) (*httptest.Server, chan<- string) {
	t.Helper()
	send := make(chan string)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("watch") != "true" {
			_, _ = fmt.Fprint(w, `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":[]}`)
			return
		}
		w.(http.Flusher).Flush()
		for {
			select {
			case line := <-send:
				_, _ = fmt.Fprintln(w, line)
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, send
}

func TestProxyLagsReads(t *testing.T) {
	srv, send := eventAPI(t)
	p := proxyTo(t, srv.URL)
	const lag = 400 * time.Millisecond
	event := func(rv string) string {
		return `{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","resourceVersion":"` + rv + `"}}}`
	}

	resp, err := http.Get(p.url + "/api/v1/pods?watch=true&resourceVersion=7")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	lines := make(chan string)
	go func() {
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				close(lines)
				return
			}
			lines <- strings.TrimSpace(line)
		}
	}()
	next := func() string {
		select {
		case line := <-lines:
			return line
		case <-time.After(30 * time.Second): // a guard against hanging, not a measurement
			t.Fatal("no event came through the proxy")
			return ""
		}
	}

	// A watch opened before the fault lags once it begins; its events keep their order.
	p.setLag(lag)
	sent := time.Now()
	for _, rv := range []string{"8", "9", "10"} {
		send <- event(rv)
	}
	if got := next(); got != event("8") {
		t.Fatalf("first event %s, want %s", got, event("8"))
	}
	if held := time.Since(sent); held < lag {
		t.Errorf("an event came through after %s, before the lag of %s", held, lag)
	}
	for _, rv := range []string{"9", "10"} {
		if got := next(); got != event(rv) {
			t.Errorf("event %s, want %s: order lost", got, event(rv))
		}
	}

	// A read lags too, by at most readLagCap.
	start := time.Now()
	if r, err := http.Get(p.url + "/api/v1/pods"); err != nil {
		t.Fatal(err)
	} else {
		_, _ = io.ReadAll(r.Body) // the status comes at once; the answer is held back
		_ = r.Body.Close()
	}
	if held := time.Since(start); held < lag {
		t.Errorf("a read was answered after %s, before the lag of %s", held, lag)
	}
	p.setLag(10 * readLagCap)
	if d := p.lagOf(false); d != readLagCap {
		t.Errorf("a read's lag under a lag of %s is %s, want the cap %s", 10*readLagCap, d, readLagCap)
	}

	// After the fault the watch goes on, as it was.
	p.setLag(0)
	send <- event("11")
	if got := next(); got != event("11") {
		t.Errorf("event after the fault %s, want %s", got, event("11"))
	}
	// (Three events may come from kube-apiserver in one chunk.)
	if s := p.summary(); !strings.Contains(s, "lagged-watch-chunk=") || !strings.Contains(s, "lagged-read=2") {
		t.Errorf("summary %q, want watch chunks and 2 reads held back", s)
	}
}
