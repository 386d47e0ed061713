package mesossim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// How the master's HTTP endpoints refuse a request, word for word as Mesos 1.12 does:
// libprocess's responses (3rdparty/libprocess/include/process/http.hpp: Response,
// MethodNotAllowed), the scheduler endpoint's checks (src/master/http.cpp:
// Master::Http::scheduler) and the call validation (src/master/validation.cpp:
// scheduler::call::validate, framework::internal::validateRoles; src/common/roles.cpp:
// roles::validate). Answers held against recorded Mesos transcripts in
// transcript_test.go.

// writeError answers an error as libprocess does: the message as a text/plain body with
// its Content-Length and no trailing newline (net/http's http.Error adds one).
func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(msg)))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg)
}

// methodNotAllowed is libprocess's MethodNotAllowed({"POST"}, method).
func methodNotAllowed(w http.ResponseWriter, method string) {
	w.Header().Set("Allow", http.MethodPost)
	writeError(w, http.StatusMethodNotAllowed, "405 Method Not Allowed. Expecting one of { 'POST' }, but received '"+method+"'.")
}

// acceptsMediaType is libprocess's Request::acceptsMediaType: no Accept header accepts
// everything; otherwise the type, its type/* or */* must be listed without q=0.
func acceptsMediaType(r *http.Request, mediaType string) bool {
	values, present := r.Header["Accept"]
	if !present {
		return true
	}
	header := strings.NewReplacer(" ", "", "\t", "", "\n", "").Replace(strings.Join(values, ","))
	main, _, _ := strings.Cut(mediaType, "/")
	for _, candidate := range []string{mediaType, main + "/*", "*/*"} {
		for _, typ := range strings.Split(header, ",") {
			name, params, _ := strings.Cut(typ, ";")
			if name == "" || !strings.EqualFold(name, candidate) {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				if k, v, ok := strings.Cut(p, "="); ok && k == "q" {
					q, err := strconv.ParseFloat(v, 64)
					return err == nil && q > 0
				}
			}
			return true
		}
	}
	return false
}

// decodeCall parses and validates a scheduler call as Master::Http::scheduler does.
func decodeCall(contentType string, body []byte) (*scheduler.Call, error) {
	var call scheduler.Call
	switch contentType {
	case mediaProtobuf:
		// Like C++'s ParseFromString, gogo's Unmarshal fails when a required field is
		// missing.
		if err := call.Unmarshal(body); err != nil {
			return nil, badRequest("Failed to parse body into Call protobuf")
		}
	case mediaJSON:
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return nil, badRequest("Failed to parse body into JSON: %s", jsonSyntaxError(body, err))
		}
		if _, ok := v.(map[string]any); !ok {
			return nil, badRequest("Failed to convert JSON into Call protobuf: Expecting a JSON object")
		}
		if err := json.Unmarshal(body, &call); err != nil {
			return nil, badRequest("Failed to convert JSON into Call protobuf: %v", err)
		}
		if missing := missingRequired(&call, v); len(missing) > 0 {
			return nil, badRequest("Failed to convert JSON into Call protobuf: Missing required fields: %s", strings.Join(missing, ", "))
		}
	}
	if why := validateCall(&call); why != "" {
		return nil, badRequest("Failed to validate scheduler::Call: %s", why)
	}
	return &call, nil
}

// jsonSyntaxError words a JSON syntax error as picojson, Mesos's parser, does: the line
// and the rest of it from where parsing stopped.
func jsonSyntaxError(body []byte, err error) string {
	off := len(body)
	var se *json.SyntaxError
	if errors.As(err, &se) && int(se.Offset) < len(body) {
		off = int(se.Offset)
	}
	line := 1 + strings.Count(string(body[:off]), "\n")
	rest, _, _ := strings.Cut(string(body[off:]), "\n")
	rest = strings.Map(func(r rune) rune {
		if r < ' ' {
			return -1
		}
		return r
	}, rest)
	return fmt.Sprintf("syntax error at line %d near: %s", line, rest)
}

// validateCall is validation.cpp's scheduler::call::validate: what each call must carry.
func validateCall(call *scheduler.Call) string {
	if call.Type == scheduler.Call_UNKNOWN {
		return "Expecting 'type' to be present"
	}
	if call.Type == scheduler.Call_SUBSCRIBE {
		if call.Subscribe == nil {
			return "Expecting 'subscribe' to be present"
		}
		if !call.Subscribe.FrameworkInfo.GetID().Equal(call.FrameworkID) {
			return "'framework_id' differs from 'subscribe.framework_info.id'"
		}
		return ""
	}
	if call.FrameworkID == nil {
		return "Expecting 'framework_id' to be present"
	}
	present := map[scheduler.Call_Type]bool{
		scheduler.Call_ACCEPT: call.Accept != nil, scheduler.Call_DECLINE: call.Decline != nil,
		scheduler.Call_KILL: call.Kill != nil, scheduler.Call_SHUTDOWN: call.Shutdown != nil,
		scheduler.Call_ACKNOWLEDGE: call.Acknowledge != nil, scheduler.Call_RECONCILE: call.Reconcile != nil,
		scheduler.Call_MESSAGE: call.Message != nil, scheduler.Call_REQUEST: call.Request != nil,
		scheduler.Call_ACCEPT_INVERSE_OFFERS: call.AcceptInverseOffers != nil, scheduler.Call_DECLINE_INVERSE_OFFERS: call.DeclineInverseOffers != nil,
	}
	if has, checked := present[call.Type]; checked && !has {
		return "Expecting '" + strings.ToLower(call.Type.String()) + "' to be present"
	}
	if call.Type == scheduler.Call_ACKNOWLEDGE && !validUUID(call.Acknowledge.UUID) {
		return "Not a valid UUID" // stout's id::UUID::fromBytes: 16 bytes of a known version
	}
	return ""
}

// missingRequired lists the proto2 required fields a call decoded from JSON lacks, by
// their path, as protobuf's InitializationErrorString words them (stout's
// protobuf::parse checks them; e.g. subscribe.framework_info.user). raw is the JSON the
// call was decoded from: presence is read there, as Go's decoding leaves an absent
// field and an empty one alike.
func missingRequired(msg any, raw any) []string {
	var out []string
	walkRequired(reflect.ValueOf(msg), raw, "", &out)
	return out
}

func walkRequired(v reflect.Value, raw any, path string, out *[]string) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	obj, ok := raw.(map[string]any)
	if v.Kind() != reflect.Struct || !ok {
		return
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("protobuf")
		if tag == "" {
			continue
		}
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		name := protoName(tag)
		if path != "" {
			name = path + "." + name
		}
		sub, present := obj[key]
		switch f := v.Field(i); {
		case !present || sub == nil:
			if strings.Contains(tag, ",req,") {
				*out = append(*out, name)
			}
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() != reflect.Uint8:
			elems, _ := sub.([]any)
			for j := 0; j < f.Len() && j < len(elems); j++ {
				walkRequired(f.Index(j), elems[j], fmt.Sprintf("%s[%d]", name, j), out)
			}
		default:
			walkRequired(f, sub, name, out)
		}
	}
}

// protoName is the field name in a gogo protobuf struct tag.
func protoName(tag string) string {
	for _, part := range strings.Split(tag, ",") {
		if n, ok := strings.CutPrefix(part, "name="); ok {
			return n
		}
	}
	return ""
}

// frameworkRefusal says why the master refuses a SUBSCRIBE after its 200, as an ERROR
// event, or "": master.cpp Master::validateFramework (validation.cpp
// framework::validate — roles, then the failover timeout — then, for a known id, that
// the framework was not removed). fw is the framework the SUBSCRIBE names, if known.
func frameworkRefusal(info mesos.FrameworkInfo, fw *framework) string {
	if why := validateRoles(info); why != "" {
		return why
	}
	if t := info.GetFailoverTimeout(); t*1e9 > 9.223372036854775807e18 || t*1e9 < -9.223372036854775808e18 {
		// Duration::create refuses only what an int64 of nanoseconds cannot hold.
		return "The framework failover_timeout (" + strconv.FormatFloat(t, 'g', -1, 64) + ") is invalid"
	}
	if fw != nil && fw.removed {
		return "Framework has been removed"
	}
	return ""
}

// updateRefusal is what a framework the master knows may not change when it subscribes
// again (Master::_subscribe): first validation.cpp's framework::preserveImmutableFields
// puts back the old `user` and `checkpoint` in info, silently (the master logs a
// warning, the framework learns nothing: MESOS-703); then framework::validateUpdate
// refuses a principal other than the old one, set or not, with this message (and the
// master logs both principals, which the framework is not told).
func updateRefusal(old mesos.FrameworkInfo, info *mesos.FrameworkInfo) string {
	if info.User != old.User {
		info.User = old.User
	}
	if info.GetCheckpoint() != old.GetCheckpoint() {
		info.Checkpoint = ptr(old.GetCheckpoint())
	}
	if (old.Principal == nil) != (info.Principal == nil) || old.GetPrincipal() != info.GetPrincipal() {
		return "Changing framework's principal is not allowed."
	}
	return ""
}

// validateRoles is validation.cpp's framework::internal::validateRoles: a MULTI_ROLE
// framework names its roles in `roles`, any other in `role` (default "*").
func validateRoles(info mesos.FrameworkInfo) string {
	if !hasCapability(info, mesos.FrameworkInfo_Capability_MULTI_ROLE) {
		if len(info.Roles) > 0 {
			return "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
		}
		if why := validateRole(info.GetRole()); why != "" {
			return "'FrameworkInfo.role' is not a valid role: " + why
		}
		return ""
	}
	if info.Role != nil {
		return "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
	}
	seen := map[string]bool{}
	for _, r := range info.Roles {
		if seen[r] {
			return "'FrameworkInfo.roles' contains duplicate items: { " + r + " }"
		}
		seen[r] = true
	}
	for _, r := range info.Roles {
		if why := validateRole(r); why != "" {
			return "'FrameworkInfo.roles' contains invalid role: " + why
		}
	}
	return ""
}

// validateRole is roles.cpp's roles::validate.
func validateRole(role string) string {
	switch {
	case role == "*":
		return ""
	case strings.HasPrefix(role, "/"):
		return "Role '" + role + "' cannot start with a slash"
	case strings.HasSuffix(role, "/"):
		return "Role '" + role + "' cannot end with a slash"
	case strings.Contains(role, "//"):
		return "Role '" + role + "' cannot contain two adjacent slashes"
	case role == "":
		return "Role names cannot be the empty string"
	}
	for _, c := range strings.Split(role, "/") {
		switch {
		case c == "." || c == ".." || c == "*":
			return "Role '" + role + "' cannot include '" + c + "' as a component"
		case strings.HasPrefix(c, "-"):
			return "Role component '" + c + "' is invalid because it starts with a dash"
		case strings.ContainsAny(c, "\t\n\v\f\r \x7f"):
			return "Role component '" + c + "' is invalid because it contains backspace or whitespace"
		}
	}
	return ""
}

// frameworkRoles are the roles a framework is offered resources for
// (protobuf::framework::getRoles): `roles` for a MULTI_ROLE framework (none: no
// offers), else `role`.
func frameworkRoles(info mesos.FrameworkInfo) []string {
	if hasCapability(info, mesos.FrameworkInfo_Capability_MULTI_ROLE) {
		return info.Roles
	}
	return []string{info.GetRole()}
}
