package mesossim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Executor authentication, as a Mesos agent with --authenticate_http_executors and its
// default JWT authenticator does it: the agent gives each executor it starts a token in
// MESOS_EXECUTOR_AUTHENTICATION_TOKEN, an HS256 JWT whose claims name the framework
// (fid), the executor (eid) and its container (cid), signed with the agent's
// --executor_secret_key (src/slave/slave.cpp Slave::launchExecutor,
// src/authentication/executor/jwt_secret_generator.cpp). A request to the executor API
// without a valid token is answered 401 before anything else is checked
// (3rdparty/libprocess/src/jwt_authenticator.cpp); one whose claims do not match the
// call's framework and executor, or the executor's container, 403 once both are found
// (src/slave/http.cpp verifyExecutorClaims). The sim signs with a key of its own, made
// when it starts, that every agent shares.

// realmExecutor is EXECUTOR_HTTP_AUTHENTICATION_REALM (src/slave/constants.hpp).
const realmExecutor = "mesos-agent-executor"

// envExecutorToken is where an executor finds its token.
const envExecutorToken = "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"

// jwtHeader is the header of the tokens the sim makes, base64url-encoded.
var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// newExecutorKey makes the key executor tokens are signed with.
func newExecutorKey() []byte {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return key
}

// executorToken is the token of an executor run: its claims, signed.
func (m *Master) executorToken(run *execRun) string {
	claims, _ := json.Marshal(map[string]string{"fid": run.fw.id, "eid": run.info.ExecutorID.Value, "cid": run.containerID})
	signed := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(claims)
	return signed + "." + base64.RawURLEncoding.EncodeToString(m.sign(signed))
}

func (m *Master) sign(s string) []byte {
	mac := hmac.New(sha256.New, m.executorKey)
	mac.Write([]byte(s))
	return mac.Sum(nil)
}

// authenticateExecutor checks a request to an agent's executor API, when agents
// authenticate executors, and answers 401 when it may not go on. claims are the token's
// (nil when executors are not authenticated).
func (m *Master) authenticateExecutor(w http.ResponseWriter, r *http.Request) (claims map[string]string, ok bool) {
	if !m.cfg.AuthenticateHTTPExecutors {
		return nil, true
	}
	challenge := `Bearer realm="` + realmExecutor + `"`
	header, present := r.Header["Authorization"]
	if !present {
		// No error information for a request without any (RFC 6750, section 3.1).
		w.Header().Set("WWW-Authenticate", challenge)
		writeError(w, http.StatusUnauthorized, "401 Unauthorized.")
		return nil, false
	}
	claims, why := m.verifyToken(header[0])
	if why != "" {
		w.Header().Set("WWW-Authenticate", challenge+`, error="invalid_token", error_description="`+why+`"`)
		writeError(w, http.StatusUnauthorized, "401 Unauthorized.")
		return nil, false
	}
	return claims, true
}

// verifyToken reads an Authorization header's bearer token and returns its claims, or
// why it is refused, in libprocess's words.
func (m *Master) verifyToken(header string) (map[string]string, string) {
	parts := strings.Split(header, " ")
	switch {
	case len(parts) != 2:
		return nil, "Malformed 'Authorization' header"
	case parts[0] != "Bearer":
		return nil, "Scheme '" + parts[0] + "' unsupported"
	}
	components := strings.Split(parts[1], ".")
	if len(components) != 3 {
		return nil, "Invalid JWT: Expected 3 components in token, got " + strconv.Itoa(len(components))
	}
	var head struct {
		Alg string `json:"alg"`
	}
	if err := decodeSegment(components[0], &head); err != nil {
		return nil, "Invalid JWT: Failed to decode token header: " + err.Error()
	}
	if head.Alg != "HS256" {
		return nil, `Invalid JWT: Token 'alg' value "` + head.Alg + `" does not match, expected "HS256"`
	}
	var payload map[string]any
	if err := decodeSegment(components[1], &payload); err != nil {
		return nil, "Invalid JWT: Failed to decode token payload: " + err.Error()
	}
	signature, err := base64.RawURLEncoding.DecodeString(components[2])
	if err != nil {
		return nil, "Invalid JWT: Failed to base64url-decode token signature: " + err.Error()
	}
	if !hmac.Equal(signature, m.sign(components[0]+"."+components[1])) {
		return nil, "Invalid JWT: Token signature does not match"
	}
	if len(payload) == 0 {
		return nil, "JWT claims missing"
	}
	claims := make(map[string]string, len(payload))
	for k, v := range payload {
		if s, ok := v.(string); ok {
			claims[k] = s
		} else {
			b, _ := json.Marshal(v)
			claims[k] = string(b)
		}
	}
	return claims, ""
}

// decodeSegment decodes a base64url JSON segment of a token into v.
func decodeSegment(segment string, v any) error {
	data, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// claimsMismatch says why a token's claims do not let a call of a framework's executor
// through (the executor's container is cid), or "".
func claimsMismatch(claims map[string]string, frameworkID, executorID, containerID string) string {
	principal, _ := json.Marshal(map[string]any{"claims": claims})
	switch {
	case claims["fid"] != frameworkID:
		return "Authenticated principal '" + string(principal) + "' does not contain an 'fid' claim with the framework ID " +
			frameworkID + ", which is set in the call"
	case claims["eid"] != executorID:
		return "Authenticated principal '" + string(principal) + "' does not contain an 'eid' claim with the executor ID " +
			executorID + ", which is set in the call"
	case claims["cid"] != containerID:
		return "Authenticated principal '" + string(principal) + "' does not contain a 'cid' claim with the correct active ContainerID"
	}
	return ""
}
