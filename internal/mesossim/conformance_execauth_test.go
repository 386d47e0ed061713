package mesossim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
)

// Mesos's agent with --authenticate_http_executors (src/slave/slave.cpp launchExecutor,
// src/slave/http.cpp Http::executor, 3rdparty/libprocess/src/jwt_authenticator.cpp): each
// executor gets an HS256 JWT naming its framework, executor and container in
// MESOS_EXECUTOR_AUTHENTICATION_TOKEN. A call without a valid one is answered 401 before
// anything else is looked at, HEARTBEAT included, with a `Bearer realm=
// "mesos-agent-executor"` challenge (error details only when a token was sent); a call
// naming another executor than the token's 403; an executor that sends its own token
// runs as without authentication.
func TestConformanceExecutorAuthentication(t *testing.T) {
	cfg := execConfig()
	cfg.AuthenticateHTTPExecutors = true
	m := startSim(t, cfg)
	s := newSched(t, m)
	s.subscribe(info())
	for _, e := range []string{"e1", "e2"} {
		task := "t-" + e
		s.launch(s.offer(""), testExecutor(t, e, "normal"), task)
		s.waitState(task, mesos.TASK_RUNNING) // its SUBSCRIBE and UPDATE carried its token
	}

	m.mu.Lock()
	a := m.agents[0]
	run := a.runs[s.id+"/e1"]
	endpoint, container := a.endpoint, run.containerID
	token := ""
	for _, kv := range run.cmd.Env {
		if v, ok := strings.CutPrefix(kv, envExecutorToken+"="); ok {
			token = v
		}
	}
	m.mu.Unlock()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("executor e1's token %q is not a JWT", token)
	}
	var claims map[string]string
	if payload, err := base64.RawURLEncoding.DecodeString(parts[1]); err != nil || json.Unmarshal(payload, &claims) != nil ||
		len(claims) != 3 || claims["fid"] != s.id || claims["eid"] != "e1" || claims["cid"] != container {
		t.Fatalf("token claims %q (%v), want fid %s, eid e1, cid %s", claims, err, s.id, container)
	}
	// e2's claims under e1's signature: a forgery.
	forged, _ := json.Marshal(map[string]string{"fid": s.id, "eid": "e2", "cid": claims["cid"]})
	forgedToken := parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2]

	challenge := `Bearer realm="mesos-agent-executor"`
	principal := `{"claims":{"cid":"` + container + `","eid":"e1","fid":"` + s.id + `"}}`
	for _, tc := range []struct {
		name, authorization string
		call                mexec.Call_Type
		executor            string
		code                int
		wwwAuthenticate     string
		body                string
	}{
		{"its own token", "Bearer " + token, mexec.Call_MESSAGE, "e1", http.StatusAccepted, "", ""},
		{"no token", "", mexec.Call_MESSAGE, "e1", http.StatusUnauthorized, challenge, "401 Unauthorized."},
		{"no token, HEARTBEAT", "", mexec.Call_HEARTBEAT, "e1", http.StatusUnauthorized, challenge, "401 Unauthorized."},
		{"basic credentials", "Basic azhzbTpzM2NyZXQ=", mexec.Call_MESSAGE, "e1", http.StatusUnauthorized,
			challenge + `, error="invalid_token", error_description="Scheme 'Basic' unsupported"`, "401 Unauthorized."},
		{"no scheme", token, mexec.Call_MESSAGE, "e1", http.StatusUnauthorized,
			challenge + `, error="invalid_token", error_description="Malformed 'Authorization' header"`, "401 Unauthorized."},
		{"not a JWT", "Bearer " + parts[0] + "." + parts[1], mexec.Call_MESSAGE, "e1", http.StatusUnauthorized,
			challenge + `, error="invalid_token", error_description="Invalid JWT: Expected 3 components in token, got 2"`, "401 Unauthorized."},
		{"forged claims", "Bearer " + forgedToken, mexec.Call_MESSAGE, "e2", http.StatusUnauthorized,
			challenge + `, error="invalid_token", error_description="Invalid JWT: Token signature does not match"`, "401 Unauthorized."},
		{"another executor's token", "Bearer " + token, mexec.Call_MESSAGE, "e2", http.StatusForbidden, "",
			"Authenticated principal '" + principal + "' does not contain an 'eid' claim with the executor ID e2, which is set in the call"},
		{"another executor's token, unknown executor", "Bearer " + token, mexec.Call_MESSAGE, "e3", http.StatusBadRequest, "",
			"Executor cannot be found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call := mexec.Call{Type: tc.call, FrameworkID: mesos.FrameworkID{Value: s.id}, ExecutorID: mesos.ExecutorID{Value: tc.executor}}
			if tc.call == mexec.Call_MESSAGE {
				call.Message = &mexec.Call_Message{Data: []byte("hi")}
			}
			body, err := call.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodPost, "http://"+endpoint+"/api/v1/executor", bytes.NewReader(body))
			req.Header.Set("Content-Type", mediaProtobuf)
			if tc.authorization != "" {
				req.Header.Set("Authorization", tc.authorization)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tc.code || resp.Header.Get("WWW-Authenticate") != tc.wwwAuthenticate || string(got) != tc.body {
				t.Errorf("%d, WWW-Authenticate %q, %q; want %d, %q, %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), got,
					tc.code, tc.wwwAuthenticate, tc.body)
			}
		})
	}
}
