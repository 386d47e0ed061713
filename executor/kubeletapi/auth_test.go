package kubeletapi

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/k8sm/k8sm/internal/ttlcache"
)

func TestPlainHTTPRefused(t *testing.T) {
	s := startServer(t)
	resp, err := http.Get("http" + strings.TrimPrefix(s.url, "https") + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain HTTP got %d, want 400 from the TLS layer", resp.StatusCode)
	}
	if calls := s.authz.calls(); len(calls) != 0 {
		t.Errorf("a plain HTTP request reached the handler: %v", calls)
	}
}

func TestAuthentication(t *testing.T) {
	s := startServer(t)
	s.authz.allowed["robot/get/pods"] = true
	other := newCA(t, "another-ca")
	admin := s.clientCA.client(t, "admin", "ops")
	for _, tc := range []struct {
		name     string
		cert     *issued
		header   http.Header
		wantCode int
		wantBody string
	}{
		{name: "no credentials", wantCode: 401, wantBody: "Unauthorized"},
		{name: "certificate of the client CA, allowed", cert: &admin, wantCode: 200},
		{name: "certificate of the client CA, denied", cert: ptrTo(s.clientCA.client(t, "alice")), wantCode: 403,
			wantBody: "Forbidden (user=alice, verb=get, resource=nodes, subresource(s)=[pods proxy])\n"},
		// The handshake accepts it (the certificate is requested, not required): the
		// handler does not verify it, and there is no other credential.
		{name: "certificate of another CA", cert: ptrTo(other.client(t, "admin")), wantCode: 401, wantBody: "Unauthorized"},
		{name: "expired certificate", cert: ptrTo(s.clientCA.issue(t, "admin", nil, x509.ExtKeyUsageClientAuth, time.Now().Add(-time.Minute))), wantCode: 401},
		{name: "certificate not for clients", cert: ptrTo(s.clientCA.issue(t, "admin", nil, x509.ExtKeyUsageServerAuth, time.Now().Add(time.Hour))), wantCode: 401},
		{name: "certificate without a name", cert: ptrTo(s.clientCA.client(t, "")), wantCode: 401},
		{name: "token reviewed false", header: bearer("bad-token"), wantCode: 401, wantBody: "Unauthorized"},
		{name: "token reviewed true, allowed", header: bearer("good-token"), wantCode: 200},
		{name: "token of a user denied", header: http.Header{"Authorization": {"Bearer good-token"}, "X-Path": {"/stats/summary"}}, wantCode: 403,
			wantBody: "Forbidden (user=robot, verb=get, resource=nodes, subresource(s)=[stats])\n"},
		{name: "basic credentials", header: http.Header{"Authorization": {"Basic YWRtaW46YWRtaW4="}}, wantCode: 401},
		{name: "empty bearer", header: http.Header{"Authorization": {"Bearer "}}, wantCode: 401},
		{name: "certificate of another CA, and a token", cert: ptrTo(other.client(t, "admin")), header: bearer("good-token"), wantCode: 200},
		{name: "token as a WebSocket protocol", header: http.Header{"Sec-Websocket-Protocol": {
			"v5.channel.k8s.io, base64url.bearer.authorization.k8s.io." + base64.RawURLEncoding.EncodeToString([]byte("good-token"))}}, wantCode: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/pods"
			if p := tc.header.Get("X-Path"); p != "" {
				path = p
			}
			req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
			for k, v := range tc.header {
				req.Header[k] = v
			}
			resp, err := s.client(tc.cert).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if resp.StatusCode != tc.wantCode || (tc.wantBody != "" && body != tc.wantBody) {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tc.wantCode, tc.wantBody)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

// TestUsers: the common name is the user, the organizations its groups,
// and every authenticated user is in system:authenticated.
func TestUsers(t *testing.T) {
	var mu sync.Mutex
	var got []user.Info
	s := startServer(t)
	s.handler.authz.authorizer = ttlcache.NewAuthorizer(authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, a.GetUser())
		return authorizer.DecisionAllow, "", nil
	}), allowedTTL, deniedTTL, time.Second, maxCacheEntries, nil)
	cert := s.clientCA.client(t, "system:kube-apiserver-kubelet-client", "system:masters", "kubeadm:cluster-admins")
	if code, _ := s.do(t, s.client(&cert), http.MethodGet, "/healthz", ""); code != 200 {
		t.Fatalf("certificate got %d", code)
	}
	if code, _ := s.do(t, s.client(nil), http.MethodGet, "/healthz", "good-token"); code != 200 {
		t.Fatalf("token got %d", code)
	}
	want := []struct {
		name   string
		groups []string
	}{
		{"system:kube-apiserver-kubelet-client", []string{"system:masters", "kubeadm:cluster-admins", "system:authenticated"}},
		{"robot", []string{"reviewed", "system:authenticated"}},
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("authorized %d users, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].GetName() != w.name || !slices.Equal(got[i].GetGroups(), w.groups) {
			t.Errorf("user %s %v, want %s %v", got[i].GetName(), got[i].GetGroups(), w.name, w.groups)
		}
	}
}

func TestReviewErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reviewErr error
		slow      bool
		authzErr  error
		wantCode  int
		wantBody  string
	}{
		{name: "token review error", reviewErr: errors.New("boom"), wantCode: 401, wantBody: "Unauthorized"},
		{name: "token review unavailable", reviewErr: ErrUnavailable, wantCode: 503},
		{name: "token review too slow", slow: true, wantCode: 503},
		{name: "authorization error", authzErr: errors.New("boom"), wantCode: 500,
			wantBody: "Authorization error (user=robot, verb=get, resource=nodes, subresource=pods)"},
		{name: "authorization unavailable", authzErr: ErrUnavailable, wantCode: 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t)
			s.handler.authn.timeout = 50 * time.Millisecond
			s.reviewer.err = tc.reviewErr
			s.authz.err = tc.authzErr
			if tc.slow {
				s.handler.authn.reviewer = slowReviewer{}
			}
			code, body := s.do(t, s.client(nil), http.MethodGet, "/pods", "good-token")
			if code != tc.wantCode || (tc.wantBody != "" && body != tc.wantBody) {
				t.Errorf("got %d %q, want %d %q", code, body, tc.wantCode, tc.wantBody)
			}
		})
	}
}

type slowReviewer struct{}

func (slowReviewer) Review(ctx context.Context, _ string) (user.Info, bool, error) {
	<-ctx.Done()
	return nil, false, ctx.Err()
}

// TestCaches: answers are kept as the kubelet's webhooks keep them, and asked again
// after.
func TestCaches(t *testing.T) {
	s := startServer(t)
	admin, alice := s.clientCA.client(t, "admin"), s.clientCA.client(t, "alice")
	get := func(cert *issued, token string) int {
		code, _ := s.do(t, s.client(cert), http.MethodGet, "/healthz", token)
		return code
	}
	asked := func() int { return len(s.authz.calls()) }

	get(&admin, "")
	get(&admin, "")
	if n := asked(); n != 1 {
		t.Errorf("allowed: asked %d times, want 1", n)
	}
	s.now.Add(allowedTTL - time.Second)
	get(&admin, "")
	if n := asked(); n != 1 {
		t.Errorf("allowed, before 5 minutes: asked %d times, want 1", n)
	}
	s.now.Add(time.Second)
	get(&admin, "")
	if n := asked(); n != 2 {
		t.Errorf("allowed, after 5 minutes: asked %d times, want 2", n)
	}

	// Denied: both subresources asked, then neither for 30 s.
	get(&alice, "")
	get(&alice, "")
	if n := asked(); n != 4 {
		t.Errorf("denied: asked %d times, want 4", n)
	}
	s.now.Add(deniedTTL)
	if code := get(&alice, ""); code != 403 || asked() != 6 {
		t.Errorf("denied, after 30 s: %d, asked %d times, want 403 and 6", code, asked())
	}

	// Tokens: reviewed once for 2 minutes, valid or not.
	for range 2 {
		get(nil, "good-token")
		get(nil, "bad-token")
	}
	if s.reviewer.count() != 2 {
		t.Errorf("tokens reviewed %d times, want 2", s.reviewer.count())
	}
	s.now.Add(tokenTTL)
	get(nil, "good-token")
	if s.reviewer.count() != 3 {
		t.Errorf("tokens reviewed %d times after 2 minutes, want 3", s.reviewer.count())
	}
}

func TestSetClientCAs(t *testing.T) {
	s := startServer(t)
	old := s.clientCA.client(t, "admin")
	next := newCA(t, "next")
	fresh := next.client(t, "admin")
	s.handler.SetClientCAs(next.pool())
	if code, _ := s.do(t, s.client(&old), http.MethodGet, "/healthz", ""); code != 401 {
		t.Errorf("certificate of the old CA got %d, want 401", code)
	}
	if code, _ := s.do(t, s.client(&fresh), http.MethodGet, "/healthz", ""); code != 200 {
		t.Errorf("certificate of the new CA got %d, want 200", code)
	}
	s.handler.SetClientCAs(nil)
	if code, _ := s.do(t, s.client(&fresh), http.MethodGet, "/healthz", ""); code != 401 {
		t.Errorf("without client CAs, a certificate got %d, want 401", code)
	}
}

// TestPathSubresources: each path of the kubelet API is authorized as the kubelet
// authorizes it, end to end.
func TestPathSubresources(t *testing.T) {
	s := startServer(t)
	alice := s.clientCA.client(t, "alice")
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/pods", "verb=get, resource=nodes, subresource(s)=[pods proxy]"},
		{"GET", "/healthz", "verb=get, resource=nodes, subresource(s)=[healthz proxy]"},
		{"GET", "/stats/summary", "verb=get, resource=nodes, subresource(s)=[stats]"},
		{"GET", "/metrics/resource", "verb=get, resource=nodes, subresource(s)=[metrics]"},
		{"GET", "/containerLogs/ns/web/app", "verb=get, resource=nodes, subresource(s)=[proxy]"},
		{"POST", "/exec/ns/web/app", "verb=create, resource=nodes, subresource(s)=[proxy]"},
		{"GET", "/attach/ns/web/app", "verb=get, resource=nodes, subresource(s)=[proxy]"},
		{"POST", "/portForward/ns/web", "verb=create, resource=nodes, subresource(s)=[proxy]"},
		{"POST", "/run/ns/web/app", "verb=create, resource=nodes, subresource(s)=[proxy]"},
		{"GET", "/logs/syslog", "verb=get, resource=nodes, subresource(s)=[log]"},
		{"POST", "/checkpoint/ns/web/app", "verb=create, resource=nodes, subresource(s)=[checkpoint]"},
		{"GET", "/configz", "verb=get, resource=nodes, subresource(s)=[configz proxy]"},
		{"GET", "/runningpods/", "verb=get, resource=nodes, subresource(s)=[pods proxy]"},
		{"PUT", "/spec/", "verb=update, resource=nodes, subresource(s)=[proxy]"},
	} {
		code, body := s.do(t, s.client(&alice), tc.method, tc.path, "")
		if want := "Forbidden (user=alice, " + tc.want + ")\n"; code != 403 || body != want {
			t.Errorf("%s %s: %d %q, want 403 %q", tc.method, tc.path, code, body, want)
		}
	}
}

func TestRequestAttributes(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		verb         string
		subresources []string
	}{
		{"GET", "/pods", "get", []string{"pods", "proxy"}},
		{"GET", "/pods/", "get", []string{"pods", "proxy"}},
		{"GET", "/podsx", "get", []string{"proxy"}},
		{"GET", "/allocatedPods/ns/p", "get", []string{"pods", "proxy"}},
		{"GET", "/runningpods/", "get", []string{"pods", "proxy"}},
		{"GET", "/healthz/ping", "get", []string{"healthz", "proxy"}},
		{"GET", "/configz", "get", []string{"configz", "proxy"}},
		{"GET", "/stats", "get", []string{"stats"}},
		{"POST", "/stats/summary", "create", []string{"stats"}},
		{"GET", "/metrics", "get", []string{"metrics"}},
		{"GET", "/metrics/cadvisor", "get", []string{"metrics"}},
		{"GET", "/logs/", "get", []string{"log"}},
		{"POST", "/checkpoint/ns/p/c", "create", []string{"checkpoint"}},
		{"GET", "/statusz", "get", []string{"statusz"}},
		{"GET", "/flagz", "get", []string{"configz"}},
		{"GET", "/containerLogs/ns/p/c", "get", []string{"proxy"}},
		{"POST", "/exec/ns/p/c", "create", []string{"proxy"}},
		{"PUT", "/x", "update", []string{"proxy"}},
		{"PATCH", "/x", "patch", []string{"proxy"}},
		{"DELETE", "/x", "delete", []string{"proxy"}},
		{"HEAD", "/x", "", []string{"proxy"}},
	} {
		r, _ := http.NewRequest(tc.method, "https://node"+tc.path, nil)
		u := &user.DefaultInfo{Name: "u"}
		attrs := requestAttributes(u, r, "n1")
		var subs []string
		for _, a := range attrs {
			subs = append(subs, a.Subresource)
			if a.Verb != tc.verb || a.Resource != "nodes" || a.Name != "n1" || a.APIVersion != "v1" || !a.ResourceRequest || a.User != u || a.Path != tc.path {
				t.Errorf("%s %s: attributes %+v", tc.method, tc.path, a)
			}
		}
		if !slices.Equal(subs, tc.subresources) {
			t.Errorf("%s %s: subresources %v, want %v", tc.method, tc.path, subs, tc.subresources)
		}
	}
}

func TestNewHandlerNeedsAuthorization(t *testing.T) {
	if _, err := NewHandler(Config{NodeName: testNode, Provider: &fakeProvider{}, Log: logr.Discard()}); err == nil {
		t.Error("a handler without an Authorizer was made")
	}
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// blockingReviewer holds every review until release is closed (or the review's
// context ends), and counts them.
type blockingReviewer struct {
	release chan struct{}
	mu      sync.Mutex
	asked   int
	ctx     context.Context // the last review's
}

func (b *blockingReviewer) context() context.Context {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ctx
}

func (b *blockingReviewer) Review(ctx context.Context, _ string) (user.Info, bool, error) {
	b.mu.Lock()
	b.asked++
	b.ctx = ctx
	b.mu.Unlock()
	select {
	case <-b.release:
		return &user.DefaultInfo{Name: "robot"}, true, nil
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

func (b *blockingReviewer) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.asked
}

// TestTokenReviewsBounded: while maxTokenReviews are under way, a request with another
// token is answered 503 at once, without a review (a message to the manager); a client
// certificate is still served, and once the reviews end, tokens are reviewed again.
func TestTokenReviewsBounded(t *testing.T) {
	s := startServer(t)
	b := &blockingReviewer{release: make(chan struct{})}
	s.handler.authn.reviewer = b
	codes := make(chan int, maxTokenReviews)
	for i := range maxTokenReviews {
		go func() {
			req, _ := http.NewRequest(http.MethodGet, s.url+"/healthz", nil)
			req.Header.Set("Authorization", fmt.Sprintf("Bearer token-%d", i))
			resp, err := s.client(nil).Do(req)
			if err != nil {
				codes <- 0
				return
			}
			_ = resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	eventually(t, "the reviews under way", func() bool { return b.count() == maxTokenReviews })

	start := time.Now()
	if code, _ := s.do(t, s.client(nil), http.MethodGet, "/healthz", "one-too-many"); code != http.StatusServiceUnavailable {
		t.Errorf("a token beyond the bound got %d, want 503", code)
	}
	if n, took := b.count(), time.Since(start); n != maxTokenReviews || took > time.Second {
		t.Errorf("a token beyond the bound was reviewed (%d reviews, want %d), answered in %s", n, maxTokenReviews, took)
	}
	admin := s.clientCA.client(t, "admin")
	if code, _ := s.do(t, s.client(&admin), http.MethodGet, "/healthz", ""); code != http.StatusOK {
		t.Errorf("a client certificate got %d during the reviews, want 200", code)
	}

	close(b.release)
	for range maxTokenReviews {
		if code := <-codes; code != http.StatusForbidden {
			t.Errorf("a reviewed token got %d, want 403 (robot may not get /healthz)", code)
		}
	}
	if code, _ := s.do(t, s.client(nil), http.MethodGet, "/healthz", "one-more"); code != http.StatusForbidden || b.count() != maxTokenReviews+1 {
		t.Errorf("after the reviews, a new token got %d after %d reviews, want 403 after %d", code, b.count(), maxTokenReviews+1)
	}
}

// Token reviews a second are bounded too, not only those under way: a client presenting
// a new token with each request, one after another, gets 503 past the burst, each
// answered at once without a review (a message through the Mesos master), while a token
// reviewed before is answered from the cache.
func TestTokenReviewsRateBounded(t *testing.T) {
	s := startServer(t)
	b := &blockingReviewer{release: make(chan struct{})}
	close(b.release)
	s.handler.authn.reviewer = b
	if code, _ := s.do(t, s.client(nil), http.MethodGet, "/healthz", "kept"); code != http.StatusForbidden {
		t.Fatalf("a first token got %d, want 403 (robot may not get /healthz)", code)
	}
	refused := 0
	for i := range 10 * tokenReviewBurst {
		if code, _ := s.do(t, s.client(nil), http.MethodGet, "/healthz", fmt.Sprintf("new-%d", i)); code == http.StatusServiceUnavailable {
			refused++
		}
	}
	if n := b.count(); n >= 2*tokenReviewBurst || refused == 0 {
		t.Errorf("%d reviews for %d new tokens one after another (%d refused), want about the burst, %d", n, 10*tokenReviewBurst, refused, tokenReviewBurst)
	}
	if code, _ := s.do(t, s.client(nil), http.MethodGet, "/healthz", "kept"); code != http.StatusForbidden {
		t.Errorf("a token reviewed before got %d past the rate, want 403 from the cache", code)
	}
}

// The requests presenting one new token at once (a client's, when its token's cache
// entry expired) make one review between them, and none is refused for the bound.
func TestOneReviewPerTokenUnderWay(t *testing.T) {
	s := startServer(t)
	b := &blockingReviewer{release: make(chan struct{})}
	s.handler.authn.reviewer = b
	const n = maxTokenReviews + 3
	codes := make(chan int, n)
	for range n {
		go func() {
			req, _ := http.NewRequest(http.MethodGet, s.url+"/healthz", nil)
			req.Header.Set("Authorization", "Bearer the-same-token")
			resp, err := s.client(nil).Do(req)
			if err != nil {
				codes <- 0
				return
			}
			_ = resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	eventually(t, "the review under way", func() bool { return b.count() == 1 })
	close(b.release)
	for range n {
		if code := <-codes; code != http.StatusForbidden {
			t.Errorf("a request got %d, want 403 (robot may not get /healthz), none 503", code)
		}
	}
	if got := b.count(); got != 1 {
		t.Errorf("%d reviews of one token, want 1", got)
	}
}

// The review of a token is not the first request's: that client going away while it is
// under way ends neither the review nor, so, the requests waiting on it (which would be
// answered 503).
func TestATokenReviewOutlivesTheRequestThatStartedIt(t *testing.T) {
	s := startServer(t)
	b := &blockingReviewer{release: make(chan struct{})}
	a := s.handler.authn
	a.reviewer = b
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := a.reviewOnce(ctx, "key", "the-same-token", time.Now())
		first <- err
	}()
	eventually(t, "the review under way", func() bool { return b.count() == 1 })
	cancel() // cancels the contexts made of ctx before it returns
	if err := b.context().Err(); err != nil {
		t.Errorf("the review's context ended with the request that started it: %v", err)
	}
	close(b.release)
	if err := <-first; err != nil {
		t.Errorf("the review: %v, want the token reviewed", err)
	}
}
