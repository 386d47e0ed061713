package mesossim

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/apierrors"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	mastercalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// HTTP authentication as Mesos's master does it with --credentials,
// --authenticate_http_frameworks and --authenticate_http_readwrite (auth.go).

// authSim is a sim whose scheduler and operator APIs authenticate, knowing principals
// "k8sm" (secret "s3cret") and "other" (secret "a:b", which basic authentication cannot
// carry).
func authSim(t *testing.T) *Master {
	return startSim(t, Config{Agents: 1, Credentials: map[string]string{"k8sm": "s3cret", "other": "x", "colon": "a:b"},
		AuthenticateHTTPFrameworks: true, AuthenticateHTTPReadWrite: true})
}

// newSchedAs is newSched sending basic credentials (none when principal is "").
func newSchedAs(t *testing.T, m *Master, principal, secret string) *sched {
	s := newSched(t, m)
	do := func(req *http.Request) (*http.Response, error) {
		if principal != "" {
			req.SetBasicAuth(principal, secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil && resp.Header.Get("Mesos-Stream-Id") != "" {
			s.mu.Lock()
			s.streamID = resp.Header.Get("Mesos-Stream-Id")
			s.mu.Unlock()
		}
		return resp, err
	}
	cli := httpcli.New(httpcli.Endpoint(m.URL()+"/api/v1/scheduler"),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]), httpcli.Do(do))
	// No candidate endpoint: mesos-go v0.0.11 would otherwise take any error of SUBSCRIBE
	// for a missing leader and try again, nine times with a backoff (k8sm does the same).
	s.caller = httpsched.NewCaller(cli, httpsched.EndpointCandidates(func() string { return "" }))
	return s
}

// subscribeAs sends a SUBSCRIBE with basic credentials and returns the answer, raw.
func subscribeAs(t *testing.T, m *Master, authorization string, fi mesos.FrameworkInfo) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, m.URL()+"/api/v1/scheduler", bytes.NewReader(marshal(t, calls.Subscribe(&fi))))
	req.Header.Set("Content-Type", mediaProtobuf)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func basic(principal, secret string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(principal, secret)
	return r.Header.Get("Authorization")
}

// libprocess's basic authenticator: no credentials, a wrong secret, an unknown principal,
// another scheme, a secret with ':' (the decoded pair must split in two) → 401
// "401 Unauthorized." with the realm's challenge; before anything else is looked at.
func TestConformanceAuthenticationRefused(t *testing.T) {
	m := authSim(t)
	for name, authorization := range map[string]string{
		"none":              "",
		"wrong secret":      basic("k8sm", "wrong"),
		"unknown principal": basic("nobody", "s3cret"),
		"bearer":            "Bearer s3cret",
		"lower-case scheme": "basic " + basic("k8sm", "s3cret")[len("Basic "):],
		"secret with ':'":   basic("colon", "a:b"),
	} {
		resp := subscribeAs(t, m, authorization, withPrincipal("k8sm"))
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: SUBSCRIBE = %d, want 401", name, resp.StatusCode)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.Header.Get("WWW-Authenticate") != `Basic realm="mesos-master-scheduler"` ||
			string(body) != "401 Unauthorized." || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("%s: %d %q %q %q, want 401 with the scheduler realm's challenge", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body, resp.Header.Get("Content-Type"))
		}
	}
	// Even a request the endpoint would refuse for its method is challenged first.
	resp, err := http.Get(m.URL() + "/api/v1/scheduler")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET without credentials = %d, want 401", resp.StatusCode)
	}
	// mesos-go's client sees 401 as CodeNotAuthenticated.
	_, err = newSchedAs(t, m, "k8sm", "wrong").caller.Call(context.Background(), calls.Subscribe(ptr(withPrincipal("k8sm"))))
	if !apierrors.CodeNotAuthenticated.Matches(err) {
		t.Errorf("mesos-go SUBSCRIBE with a wrong secret: %v, want its not-authenticated error", err)
	}
}

// The authenticated principal and FrameworkInfo.principal (validation.cpp
// scheduler::call::validate; Master::Http::scheduler): a SUBSCRIBE naming another
// principal → 400; one naming none is given the authenticated one; a later call from
// another authenticated principal → 400; the right one subscribes.
func TestConformanceAuthenticatedPrincipal(t *testing.T) {
	m := authSim(t)
	resp := subscribeAs(t, m, basic("other", "x"), withPrincipal("k8sm"))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("SUBSCRIBE as other with principal k8sm = %d, want 400", resp.StatusCode)
	}
	body, _ := io.ReadAll(resp.Body)
	const mismatch = "Failed to validate scheduler::Call: Authenticated principal 'other' does not match principal 'k8sm' set in `FrameworkInfo`"
	if resp.StatusCode != http.StatusBadRequest || string(body) != mismatch {
		t.Fatalf("SUBSCRIBE as other with principal k8sm: %d %q, want 400 %q", resp.StatusCode, body, mismatch)
	}

	s := newSchedAs(t, m, "k8sm", "s3cret")
	s.subscribe(info()) // no principal: given k8sm
	if got := frameworkInfoOfAs(t, m, s.id); got.GetPrincipal() != "k8sm" {
		t.Fatalf("principal of a framework that authenticated and named none: %v, want k8sm", got.Principal)
	}
	s.mustCall(calls.Revive())

	other := newSchedAs(t, m, "other", "x")
	other.id = s.id
	s.mu.Lock()
	other.streamID = s.streamID
	s.mu.Unlock()
	req, _ := http.NewRequest(http.MethodPost, m.URL()+"/api/v1/scheduler", bytes.NewReader(marshal(t, calls.Revive().With(calls.Framework(s.id)))))
	req.Header.Set("Content-Type", mediaProtobuf)
	req.Header.Set("Mesos-Stream-Id", other.streamID)
	req.SetBasicAuth("other", "x")
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(r2.Body)
	_ = r2.Body.Close()
	if want := "Authenticated principal 'other' does not match principal 'k8sm' set in `FrameworkInfo`"; r2.StatusCode != http.StatusBadRequest || string(body) != want {
		t.Fatalf("REVIVE as other for k8sm's framework: %d %q, want 400 %q", r2.StatusCode, body, want)
	}
}

// frameworkInfoOfAs is frameworkInfoOf through an operator API that authenticates.
func frameworkInfoOfAs(t *testing.T, m *Master, id string) mesos.FrameworkInfo {
	t.Helper()
	r := operatorCallAs(t, m, basic("k8sm", "s3cret"), mastercalls.GetFrameworks())
	for _, f := range r.GetFrameworks.Frameworks {
		if f.FrameworkInfo.GetID().GetValue() == id {
			return f.FrameworkInfo
		}
	}
	t.Fatalf("GET_FRAMEWORKS does not list framework %s", id)
	return mesos.FrameworkInfo{}
}

// operatorCallAs sends an operator API call with an Authorization header, and decodes a 200.
func operatorCallAs(t *testing.T, m *Master, authorization string, call *master.Call) master.Response {
	t.Helper()
	resp := operatorPost(t, m, authorization, call)
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", call.GetType(), resp.StatusCode, body)
	}
	var r master.Response
	if err := r.Unmarshal(body); err != nil {
		t.Fatal(err)
	}
	return r
}

func operatorPost(t *testing.T, m *Master, authorization string, call *master.Call) *http.Response {
	t.Helper()
	data, err := call.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, m.URL()+"/api/v1", bytes.NewReader(data))
	req.Header.Set("Content-Type", mediaProtobuf)
	req.Header.Set("Accept", mediaProtobuf)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// --authenticate_http_readwrite: the operator API challenges in its own realm; any
// principal of the credentials may call it (authorization is the ACLs' business).
func TestOperatorAPIAuthentication(t *testing.T) {
	m := authSim(t)
	resp := operatorPost(t, m, basic("k8sm", "wrong"), mastercalls.GetAgents())
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="mesos-master-readwrite"` {
		t.Fatalf("GET_AGENTS with a wrong secret: %d %q, want 401 in the readwrite realm", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if r := operatorCallAs(t, m, basic("other", "x"), mastercalls.GetAgents()); len(r.GetAgents.Agents) != 1 {
		t.Fatalf("GET_AGENTS: %v", r.GetAgents)
	}
	// The sim's own endpoints do not ask.
	if st, err := http.Get(m.URL() + "/state"); err != nil || st.StatusCode != http.StatusOK {
		t.Fatalf("/state: %v %v", st, err)
	}
}

// Without --authenticate_http_frameworks nothing is asked, credentials or not, and
// credentials sent are not looked at.
func TestNoAuthenticationByDefault(t *testing.T) {
	m := startSim(t, Config{Agents: 1, Credentials: map[string]string{"k8sm": "s3cret"}})
	s := newSchedAs(t, m, "k8sm", "wrong")
	s.subscribe(withPrincipal("someone-else"))
	if _, err := New(Config{AuthenticateHTTPFrameworks: true}); err == nil {
		t.Fatal("authentication without credentials must be refused, as Mesos's master refuses to start")
	}
}

func TestParseCredentials(t *testing.T) {
	got, err := ParseCredentials([]byte(`{"credentials":[{"principal":"k8sm","secret":"s3cret"},{"principal":"nosecret"}]}`))
	if err != nil || len(got) != 2 || got["k8sm"] != "s3cret" || got["nosecret"] != "" {
		t.Fatalf("ParseCredentials = %v, %v", got, err)
	}
	if got, err := ParseCredentials(nil); err != nil || got != nil {
		t.Fatalf("an empty file: %v, %v, want no credentials", got, err)
	}
	for _, bad := range []string{`principal secret`, `{"credentials":[{"secret":"s"}]}`} {
		if _, err := ParseCredentials([]byte(bad)); err == nil {
			t.Errorf("ParseCredentials(%q) took it", bad)
		}
	}
}
