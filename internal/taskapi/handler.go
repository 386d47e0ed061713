package taskapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/taskstore"
)

// Authenticator names a request's user: ok false if the request has none it can vouch
// for (401), an error if it could not tell (503).
type Authenticator interface {
	Authenticate(r *http.Request) (u user.Info, ok bool, err error)
}

// Handler answers the served API's requests from a Store.
type Handler struct {
	Store         *taskstore.Store
	Authenticator Authenticator
	Authorizer    authorizer.UnconditionalAuthorizer
	Log           logr.Logger
	// Sole says the served MesosTasks are the only ones (no CRD): they take its short
	// name and category.
	Sole bool
	// Relay passes the requests of a replica that does not hold the MesosTasks (in
	// memory, the leader alone does) on to the leader's, and authenticates those it
	// passed on.
	Relay *Relay
	// Leads, with Relay and the CRD, says whether this replica leads: one that does not
	// passes the requests it gets on to the leader as well, so that a client's list and
	// its watch from the list's revision are answered at one replica's revisions (each
	// numbers its own). It answers them itself when no leader can be reached.
	Leads func() bool
}

// The group's paths.
var (
	groupPath   = "/apis/" + GroupVersion.Group
	versionPath = groupPath + "/" + GroupVersion.Version
)

// request is a resource request: a list or watch (name empty) or a get.
type request struct {
	namespace, name string
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz", "/livez", "/readyz":
		// As the API server's, unauthenticated: kube-apiserver's availability check and
		// the kubelet's probes.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
		return
	}
	u, from, ok, err := h.authenticate(r)
	switch {
	case err != nil:
		h.Log.Error(err, "Authentication error")
		writeStatus(w, apierrors.NewServiceUnavailable("the request's authentication could not be checked"))
		return
	case !ok:
		writeStatus(w, apierrors.NewUnauthorized("Unauthorized"))
		return
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch path {
	case "/apis", groupPath, versionPath:
		// Discovery, which every user may read (the API server's system:discovery).
		if r.Method != http.MethodGet {
			writeStatus(w, methodNotAllowed(r.Method))
			return
		}
		h.discovery(w, r, path)
		return
	}
	req, ok := parsePath(path)
	if !ok {
		writeStatus(w, apierrors.NewNotFound(schema.GroupResource{}, ""))
		return
	}
	if r.Method != http.MethodGet {
		writeStatus(w, methodNotAllowed(r.Method))
		return
	}
	q := r.URL.Query()
	verb, bad := resourceVerb(req, q)
	if bad != nil {
		writeStatus(w, bad)
		return
	}
	if from == notPeer && h.Relay != nil && (!h.Store.Synced() || h.Leads != nil && !h.Leads()) {
		// The leader authorizes the request. One relayed here is not relayed again.
		var fallback func()
		if h.Store.Synced() {
			// With the CRD this replica holds them too: it answers when no leader does.
			fallback = func() { h.answer(w, r, u, from, verb, req) }
		}
		h.Relay.Forward(w, r, u, fallback)
		return
	}
	h.answer(w, r, u, from, verb, req)
}

// answer answers a resource request of u's from the Store.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, u user.Info, from peer, verb string, req request) {
	if from != peerReplica && !h.authorize(w, r, u, verb, req) {
		return
	}
	if !h.Store.Synced() {
		// A replica that just started, or, with the MesosTasks in memory, one that does
		// not lead: an empty list would say there are none.
		writeStatus(w, apierrors.NewServiceUnavailable("this replica of the manager does not hold the MesosTasks (yet): it has not read them, or they are the leader's"))
		return
	}
	q := r.URL.Query()
	media, err := negotiate(r.Header.Get("Accept"))
	if err != nil {
		writeStatus(w, &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure,
			Code: http.StatusNotAcceptable, Reason: metav1.StatusReasonNotAcceptable, Message: err.Error()}})
		return
	}
	if media.as == asTable {
		switch inc := includeObject(q.Get("includeObject")); inc {
		case "":
		case includeNone, includeMetadata, includeWhole:
			media.include = inc
		default:
			writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("includeObject: %q is not one of None, Metadata, Object", inc)))
			return
		}
	}
	switch verb {
	case "get":
		h.get(w, req, media)
	case "list":
		h.list(w, r, req, media)
	case "watch":
		h.watch(w, r, req, media)
	}
}

// resourceVerb is what a GET of req asks: get, list or watch.
func resourceVerb(req request, q url.Values) (string, *apierrors.StatusError) {
	watch := isTrue(q.Get("watch"))
	switch {
	case req.name == "" && watch:
		return "watch", nil
	case req.name == "":
		return "list", nil
	case watch:
		// A watch of one object is a watch with a name selector, as the API server has it.
		return "", apierrors.NewBadRequest("watch a single MesosTask with a fieldSelector of metadata.name")
	}
	return "get", nil
}

// authenticate names the request's user: as another replica names it (from), else as
// the front proxy vouches for it.
func (h *Handler) authenticate(r *http.Request) (u user.Info, from peer, ok bool, err error) {
	if h.Relay != nil {
		// A replica asks for itself (Mirror, Kept) only with the MesosTasks in memory.
		if u, from := h.Relay.Authenticate(r); from == peerRelayed || from == peerReplica && h.Leads == nil {
			return u, from, true, nil
		}
	}
	u, ok, err = h.Authenticator.Authenticate(r)
	return u, notPeer, ok, err
}

// parsePath reads a resource path: .../mesostasks, .../namespaces/NS/mesostasks, or
// .../namespaces/NS/mesostasks/NAME.
func parsePath(path string) (request, bool) {
	rest, ok := strings.CutPrefix(path, versionPath+"/")
	if !ok {
		return request{}, false
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 1 && parts[0] == Resource:
		return request{}, true
	case len(parts) == 3 && parts[0] == "namespaces" && parts[1] != "" && parts[2] == Resource:
		return request{namespace: parts[1]}, true
	case len(parts) == 4 && parts[0] == "namespaces" && parts[1] != "" && parts[2] == Resource && parts[3] != "":
		return request{namespace: parts[1], name: parts[3]}, true
	}
	return request{}, false
}

func isTrue(s string) bool { return s == "true" || s == "1" }

// authorize asks whether u may make a resource request, and answers it if not.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, u user.Info, verb string, req request) bool {
	attrs := authorizer.AttributesRecord{
		User: u, Verb: verb, Namespace: req.namespace, APIGroup: GroupVersion.Group, APIVersion: GroupVersion.Version,
		Resource: Resource, Name: req.name, ResourceRequest: true, Path: r.URL.Path,
	}
	decision, reason, err := h.Authorizer.Authorize(r.Context(), attrs)
	if err != nil {
		h.Log.Error(err, "Authorization error", "user", u.GetName(), "verb", verb, "namespace", req.namespace)
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			writeStatus(w, apierrors.NewServiceUnavailable("the request's authorization could not be checked"))
		} else {
			writeStatus(w, apierrors.NewInternalError(fmt.Errorf("the request's authorization could not be checked")))
		}
		return false
	}
	if decision == authorizer.DecisionAllow {
		return true
	}
	msg := fmt.Sprintf("User %q cannot %s resource %q in API group %q", u.GetName(), verb, Resource, GroupVersion.Group)
	if req.namespace != "" {
		msg += fmt.Sprintf(" in the namespace %q", req.namespace)
	} else {
		msg += " at the cluster scope"
	}
	if reason != "" {
		msg += ": " + reason
	}
	writeStatus(w, apierrors.NewForbidden(groupResource, req.name, errors.New(msg)))
	return false
}

// get answers a get.
func (h *Handler) get(w http.ResponseWriter, req request, media mediaType) {
	mt := h.Store.Get(types.NamespacedName{Namespace: req.namespace, Name: req.name})
	if mt == nil {
		writeStatus(w, apierrors.NewNotFound(groupResource, req.name))
		return
	}
	obj := served(mt, h.Store.RevisionOf(mt))
	switch media.as {
	case asTable:
		t, err := table([]*mesosv1alpha1.MesosTask{obj}, obj.ResourceVersion, media.include, media.noHeaders)
		if err != nil {
			writeStatus(w, apierrors.NewInternalError(err))
			return
		}
		writeJSON(w, http.StatusOK, t)
	case asPartial:
		writeJSON(w, http.StatusOK, partial(obj))
	default:
		writeJSON(w, http.StatusOK, obj)
	}
}

// list answers a list: everything selected at one revision, whatever its limit (as
// the API server's watch cache answers a list at resourceVersion 0).
func (h *Handler) list(w http.ResponseWriter, r *http.Request, req request, media mediaType) {
	q := r.URL.Query()
	sel, err := parseSelector(req.namespace, q.Get("labelSelector"), q.Get("fieldSelector"))
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	held, revs, rev := h.Store.Snapshot(sel.matches)
	objs := make([]*mesosv1alpha1.MesosTask, len(held))
	for i, mt := range held {
		objs[i] = served(mt, revs[i])
	}
	slices.SortFunc(objs, func(a, b *mesosv1alpha1.MesosTask) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	rv := fmt.Sprint(rev)
	switch media.as {
	case asTable:
		t, err := table(objs, rv, media.include, media.noHeaders)
		if err != nil {
			writeStatus(w, apierrors.NewInternalError(err))
			return
		}
		writeJSON(w, http.StatusOK, t)
	case asPartial:
		l := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadataList"}}
		l.ResourceVersion = rv
		l.Items = make([]metav1.PartialObjectMetadata, len(objs))
		for i, mt := range objs {
			l.Items[i] = *partial(mt)
		}
		writeJSON(w, http.StatusOK, l)
	default:
		l := &servedList{TypeMeta: metav1.TypeMeta{APIVersion: GroupVersion.String(), Kind: Kind + "List"}, Items: objs}
		l.ResourceVersion = rv
		writeJSON(w, http.StatusOK, l)
	}
}

// servedList is a MesosTaskList of the Store's objects, without copying them into one.
type servedList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []*mesosv1alpha1.MesosTask `json:"items"`
}

// What a response is.
type asKind int

const (
	asObject  asKind = iota // the objects
	asTable                 // meta.k8s.io/v1 Table
	asPartial               // meta.k8s.io/v1 PartialObjectMetadata(List)
)

type mediaType struct {
	as        asKind
	include   includeObject
	noHeaders bool
}

// negotiate picks the first media type of an Accept header the API serves: JSON, as
// the objects, a Table or their metadata. Protobuf, which a custom resource has none of
// either, is passed over for what comes after it.
func negotiate(accept string) (mediaType, error) {
	if strings.TrimSpace(accept) == "" {
		return mediaType{}, nil
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if mt != "application/json" && mt != "*/*" && mt != "application/*" {
			continue
		}
		switch params["as"] {
		case "":
			return mediaType{}, nil
		case "Table":
			if params["g"] == "meta.k8s.io" && params["v"] == "v1" {
				return mediaType{as: asTable, include: includeMetadata}, nil
			}
		case "PartialObjectMetadata", "PartialObjectMetadataList":
			if params["g"] == "meta.k8s.io" && params["v"] == "v1" {
				return mediaType{as: asPartial}, nil
			}
		}
	}
	return mediaType{}, fmt.Errorf("only the following media types are accepted: application/json, application/json;as=Table;g=meta.k8s.io;v=v1, application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1")
}

func methodNotAllowed(method string) *apierrors.StatusError {
	return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusMethodNotAllowed,
		Reason:  metav1.StatusReasonMethodNotAllowed,
		Details: &metav1.StatusDetails{Group: GroupVersion.Group, Kind: Resource},
		Message: fmt.Sprintf("%s is not supported on %s.%s: they are read-only, the manager alone writes MesosTasks",
			strings.ToLower(method), Resource, GroupVersion.Group)}}
}

// writeStatus answers with a Status.
func writeStatus(w http.ResponseWriter, err *apierrors.StatusError) {
	s := err.ErrStatus
	s.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Status"}
	code := int(s.Code)
	if code == 0 {
		code = http.StatusInternalServerError
	}
	writeJSON(w, code, &s)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	writeBody(w, v)
}

func writeBody(w http.ResponseWriter, v any) { _ = json.NewEncoder(w).Encode(v) }
