package mesossim

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// HTTP authentication of frameworks and operators, as Mesos's master does it with its
// default basic authenticator (3rdparty/libprocess/src/authenticator.cpp,
// BasicAuthenticatorProcess::authenticate): before any handler runs (libprocess
// ProcessBase::_consume), a request to an endpoint of an authenticating realm must carry
// `Authorization: Basic base64(principal:secret)` naming a principal of the master's
// credentials with its secret; any other request is answered 401 "401 Unauthorized."
// with `WWW-Authenticate: Basic realm="<realm>"`. The principal then goes to the handler.

// Mesos's realms (src/master/constants.hpp).
const (
	realmScheduler = "mesos-master-scheduler" // DEFAULT_HTTP_FRAMEWORK_AUTHENTICATION_REALM: /api/v1/scheduler
	realmReadWrite = "mesos-master-readwrite" // READWRITE_HTTP_AUTHENTICATION_REALM: /api/v1
)

// ParseCredentials reads a credentials file in the form Mesos's --credentials takes
// (src/credentials/credentials.hpp: a JSON Credentials message,
// {"credentials":[{"principal":"p","secret":"s"}]}), by principal. An empty file holds none.
func ParseCredentials(data []byte) (map[string]string, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var file struct {
		Credentials []struct {
			Principal *string `json:"principal"`
			Secret    string  `json:"secret"`
		} `json:"credentials"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("invalid json format: %w", err)
	}
	out := make(map[string]string, len(file.Credentials))
	for i, c := range file.Credentials {
		if c.Principal == nil {
			return nil, fmt.Errorf("failed to parse credentials: credentials[%d] has no principal", i)
		}
		out[*c.Principal] = c.Secret
	}
	return out, nil
}

// checkAuthConfig refuses what Mesos's master refuses to start with: authentication
// without credentials ("No credentials provided for the default 'basic' HTTP
// authenticator for realm ...", src/common/http.cpp createBasicAuthenticator).
func checkAuthConfig(cfg Config) error {
	if (cfg.AuthenticateHTTPFrameworks || cfg.AuthenticateHTTPReadWrite) && cfg.Credentials == nil {
		return errors.New("HTTP authentication needs credentials")
	}
	return nil
}

// authenticated checks a request to an endpoint of realm, when the master authenticates
// it (on), and answers 401 when it may not go on. principal is who it authenticated as
// (nil when the realm does not authenticate).
func (m *Master) authenticated(w http.ResponseWriter, r *http.Request, realm string, on bool) (principal *string, ok bool) {
	if !on {
		return nil, true
	}
	if p, ok := basicPrincipal(r, m.cfg.Credentials); ok {
		return &p, true
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="`+realm+`"`)
	writeError(w, http.StatusUnauthorized, "401 Unauthorized.")
	return nil, false
}

// basicPrincipal is the principal of a request's basic credentials, if the credentials
// hold it with that secret. As libprocess reads them: the header's value is exactly
// "Basic <base64>", and the decoded text splits on ':' into exactly two parts (a secret
// with a ':' in it never matches).
func basicPrincipal(r *http.Request, credentials map[string]string) (string, bool) {
	parts := strings.Split(r.Header.Get("Authorization"), " ")
	if len(parts) != 2 || parts[0] != "Basic" {
		return "", false
	}
	decoded, err := base64.StdEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	pair := strings.Split(string(decoded), ":")
	if len(pair) != 2 {
		return "", false
	}
	secret, known := credentials[pair[0]]
	if !known || secret != pair[1] {
		return "", false
	}
	return pair[0], true
}

// principalMismatch is Mesos's answer to an authenticated call of a framework whose
// FrameworkInfo names another principal (validation.cpp scheduler::call::validate for
// SUBSCRIBE; Master::Http::scheduler for the other calls).
func principalMismatch(authenticated, framework string) string {
	return "Authenticated principal '" + authenticated + "' does not match principal '" + framework + "' set in `FrameworkInfo`"
}
