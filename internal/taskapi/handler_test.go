package taskapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/taskstore"
)

// fixedUser authenticates every request as one user, or none.
type fixedUser struct{ u user.Info }

func (f fixedUser) Authenticate(*http.Request) (user.Info, bool, error) { return f.u, f.u != nil, nil }

// allowIn allows what is asked of its namespaces ("" the cluster scope), and records it.
type allowIn struct {
	namespaces map[string]bool
	asked      []authorizer.Attributes
}

func (a *allowIn) Authorize(_ context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	a.asked = append(a.asked, attrs)
	if a.namespaces[attrs.GetNamespace()] {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

type fixture struct {
	store *taskstore.Store
	api   client.Client // the API server's stand-in
	c     client.Client // the manager's client, through the Store
	authz *allowIn
	srv   *httptest.Server
}

func mesosTask(ns, name, id, cluster string) *mesosv1alpha1.MesosTask {
	return &mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name}},
		Spec: mesosv1alpha1.MesosTaskSpec{TaskID: id, ClusterRef: cluster,
			Resources: mesosv1alpha1.TaskResources{CPUs: ptr.To(resource.MustParse("250m")), Memory: ptr.To(resource.MustParse("64Mi"))}},
		Status: mesosv1alpha1.MesosTaskStatus{Phase: mesosv1alpha1.TaskPhaseRunning, PodPhase: corev1.PodRunning,
			MesosState: "TASK_RUNNING", Hostname: "agent-1"}}
}

func newFixture(t testing.TB, objs ...*mesosv1alpha1.MesosTask) *fixture {
	t.Helper()
	sch := runtime.NewScheme()
	if err := mesosv1alpha1.AddToScheme(sch); err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: taskstore.New(nil), authz: &allowIn{namespaces: map[string]bool{"ns": true, "": true}}}
	b := fake.NewClientBuilder().WithScheme(sch)
	for _, mt := range objs {
		b = b.WithObjects(mt)
	}
	api := b.Build()
	f.api = api
	f.c = taskstore.Wrap(f.api, f.store)
	// The Store lists objs, then watches whole MesosTasks, as on a standby replica.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		_ = (&taskstore.Watcher{Store: f.store, Reader: api, Whole: api, Elected: make(chan struct{}), Log: logr.Discard()}).Start(ctx)
	}()
	if err := f.store.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	h := &Handler{Store: f.store, Authenticator: fixedUser{&user.DefaultInfo{Name: "alice"}}, Authorizer: f.authz}
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

// request makes a GET of path, with an Accept header if accept is not empty.
func (f *fixture) request(t *testing.T, path, accept string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (f *fixture) get(t *testing.T, path, accept string) (int, []byte) {
	t.Helper()
	resp := f.request(t, path, accept)
	defer func() { _ = resp.Body.Close() }()
	var b strings.Builder
	if _, err := bufio.NewReader(resp.Body).WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, []byte(b.String())
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

const base = "/apis/tasks.mesos.k8sm.io/v1alpha1"

func TestDiscovery(t *testing.T) {
	f := newFixture(t)
	code, b := f.get(t, base, "")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, b)
	}
	rl := decode[metav1.APIResourceList](t, b)
	if rl.GroupVersion != "tasks.mesos.k8sm.io/v1alpha1" || len(rl.APIResources) != 1 {
		t.Fatalf("%+v", rl)
	}
	r := rl.APIResources[0]
	if r.Name != "mesostasks" || r.Kind != "MesosTask" || !r.Namespaced || strings.Join(r.Verbs, ",") != "get,list,watch" || len(r.ShortNames) != 0 {
		t.Errorf("%+v", r)
	}
	if code, b = f.get(t, "/apis", ""); code != http.StatusOK || decode[metav1.APIGroupList](t, b).Groups[0].Name != "tasks.mesos.k8sm.io" {
		t.Errorf("/apis: %d %s", code, b)
	}
	if code, b = f.get(t, "/apis/tasks.mesos.k8sm.io", ""); code != http.StatusOK || decode[metav1.APIGroup](t, b).PreferredVersion.Version != "v1alpha1" {
		t.Errorf("the group: %d %s", code, b)
	}
	// Aggregated discovery, which kube-apiserver asks for first.
	code, b = f.get(t, "/apis", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
	agg := decode[apidiscoveryv2.APIGroupDiscoveryList](t, b)
	if code != http.StatusOK || agg.Kind != "APIGroupDiscoveryList" || len(agg.Items) != 1 ||
		agg.Items[0].Versions[0].Resources[0].Resource != "mesostasks" || agg.Items[0].Versions[0].Resources[0].Scope != apidiscoveryv2.ScopeNamespace {
		t.Errorf("aggregated: %d %s", code, b)
	}
	if len(f.authz.asked) != 0 {
		t.Errorf("discovery was authorized: %v", f.authz.asked)
	}
}

func TestGetAndList(t *testing.T) {
	f := newFixture(t, mesosTask("ns", "a", "id-a", "c1"), mesosTask("ns", "b", "id-b", "c2"), mesosTask("other", "c", "id-c", "c1"))
	code, b := f.get(t, base+"/namespaces/ns/mesostasks/a", "")
	mt := decode[mesosv1alpha1.MesosTask](t, b)
	if code != http.StatusOK || mt.APIVersion != "tasks.mesos.k8sm.io/v1alpha1" || mt.Kind != "MesosTask" || mt.Spec.TaskID != "id-a" || mt.ResourceVersion == "" {
		t.Fatalf("get: %d %s", code, b)
	}
	held := f.store.Get(types.NamespacedName{Namespace: "ns", Name: "a"})
	if mt.ResourceVersion != fmt.Sprint(f.store.RevisionOf(held)) {
		t.Errorf("resourceVersion %s, the Store's revision %d", mt.ResourceVersion, f.store.RevisionOf(held))
	}
	if held.APIVersion != mesosv1alpha1.GroupVersion.String() {
		t.Errorf("serving changed the Store's object: %s", held.APIVersion)
	}

	for _, tc := range []struct {
		query string
		want  string
	}{
		{"/namespaces/ns/mesostasks", "a,b"},
		{"/mesostasks", "a,b,c"},
		{"/mesostasks?labelSelector=app%3Db", "b"},
		{"/mesostasks?fieldSelector=spec.clusterRef%3Dc1", "a,c"},
		{"/namespaces/ns/mesostasks?fieldSelector=spec.taskID%3Did-b", "b"},
		{"/mesostasks?fieldSelector=metadata.name%21%3Da", "b,c"},
	} {
		code, b := f.get(t, base+tc.query, "")
		l := decode[mesosv1alpha1.MesosTaskList](t, b)
		var names []string
		for _, mt := range l.Items {
			names = append(names, mt.Name)
		}
		if code != http.StatusOK || strings.Join(names, ",") != tc.want || l.Kind != "MesosTaskList" || l.ResourceVersion != fmt.Sprint(f.store.Revision()) {
			t.Errorf("%s: %d %v (%s, %s), want %s", tc.query, code, names, l.Kind, l.ResourceVersion, tc.want)
		}
	}

	for _, tc := range []struct {
		path   string
		code   int
		reason metav1.StatusReason
	}{
		{"/namespaces/ns/mesostasks/nope", http.StatusNotFound, metav1.StatusReasonNotFound},
		{"/namespaces/other/mesostasks/c", http.StatusForbidden, metav1.StatusReasonForbidden},
		{"/mesostasks?fieldSelector=status.phase%3DRunning", http.StatusBadRequest, metav1.StatusReasonBadRequest},
		{"/mesostasks?labelSelector=%3D%3D", http.StatusBadRequest, metav1.StatusReasonBadRequest},
		{"/namespaces/ns/pods", http.StatusNotFound, metav1.StatusReasonNotFound},
	} {
		code, b := f.get(t, base+tc.path, "")
		if st := decode[metav1.Status](t, b); code != tc.code || st.Reason != tc.reason || st.Kind != "Status" {
			t.Errorf("%s: %d %s", tc.path, code, b)
		}
	}
	if code, b := f.get(t, base+"/mesostasks", "application/vnd.kubernetes.protobuf"); code != http.StatusNotAcceptable {
		t.Errorf("protobuf alone: %d %s", code, b)
	}
}

func TestWritesAreRefused(t *testing.T) {
	f := newFixture(t, mesosTask("ns", "a", "id-a", "c1"))
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		req, _ := http.NewRequest(method, f.srv.URL+base+"/namespaces/ns/mesostasks/a", strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d", method, resp.StatusCode)
		}
	}
}

func TestAStoreNotReadYetIsUnavailable(t *testing.T) {
	f := newFixture(t)
	f.srv.Config.Handler = &Handler{Store: taskstore.New(nil), Authenticator: fixedUser{&user.DefaultInfo{Name: "alice"}}, Authorizer: f.authz}
	if code, b := f.get(t, base+"/mesostasks", ""); code != http.StatusServiceUnavailable {
		t.Errorf("%d %s", code, b)
	}
	if code, _ := f.get(t, base, ""); code != http.StatusOK {
		t.Errorf("discovery: %d", code)
	}
}

func TestUnauthenticatedIsRefused(t *testing.T) {
	f := newFixture(t, mesosTask("ns", "a", "id-a", "c1"))
	f.srv.Config.Handler = &Handler{Store: f.store, Authenticator: fixedUser{}, Authorizer: f.authz}
	for _, path := range []string{base + "/mesostasks", "/apis"} {
		if code, b := f.get(t, path, ""); code != http.StatusUnauthorized {
			t.Errorf("%s: %d %s", path, code, b)
		}
	}
	if code, _ := f.get(t, "/healthz", ""); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
}

// TestTheTableHasTheCRDsColumns holds the served Table's columns to the MesosTask CRD's
// printer columns, and its cells to theirs.
func TestTheTableHasTheCRDsColumns(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "mesos.k8sm.io_mesostasks.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Columns []struct {
					Name     string `json:"name"`
					Type     string `json:"type"`
					Priority int32  `json:"priority"`
				} `json:"additionalPrinterColumns"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	want := crd.Spec.Versions[0].Columns
	if len(columns) != len(want)+1 {
		t.Fatalf("%d columns served, the CRD has %d after the name", len(columns), len(want))
	}
	for i, c := range want {
		got := columns[i+1]
		if got.Name != c.Name || got.Type != c.Type || got.Priority != c.Priority {
			t.Errorf("column %d: served %+v, the CRD's %+v", i+1, got, c)
		}
	}

	mt := mesosTask("ns", "a", "id-a", "c1")
	// Thirty seconds either side of the printed 90m: the stored timestamp is whole seconds
	// and the age is taken when the row is built, so an age in seconds could tick over.
	mt.CreationTimestamp = metav1.NewTime(time.Now().Add(-90*time.Minute - 30*time.Second))
	f := newFixture(t, mt)
	code, b := f.get(t, base+"/namespaces/ns/mesostasks", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
	tbl := decode[metav1.Table](t, b)
	if code != http.StatusOK || tbl.Kind != "Table" || len(tbl.ColumnDefinitions) != len(columns) || len(tbl.Rows) != 1 {
		t.Fatalf("%d %s", code, b)
	}
	cells := fmt.Sprint(tbl.Rows[0].Cells)
	if want := "[a Running TASK_RUNNING agent-1 250m 64Mi Running c1 id-a <nil> 90m]"; cells != want {
		t.Errorf("cells %s, want %s", cells, want)
	}
	row := decode[metav1.PartialObjectMetadata](t, tbl.Rows[0].Object.Raw)
	if row.Kind != "PartialObjectMetadata" || row.Name != "a" || row.Namespace != "ns" {
		t.Errorf("the row's object: %s", tbl.Rows[0].Object.Raw)
	}
	// Metadata alone, as the garbage collector's and namespace controller's clients ask.
	code, b = f.get(t, base+"/mesostasks", "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")
	if pl := decode[metav1.PartialObjectMetadataList](t, b); code != http.StatusOK || pl.Kind != "PartialObjectMetadataList" || len(pl.Items) != 1 || pl.Items[0].Name != "a" {
		t.Errorf("metadata: %d %s", code, b)
	}
}

// watchStream is a watch's events as they come.
type watchStream struct {
	events chan map[string]json.RawMessage
	resp   *http.Response
}

func (f *fixture) watch(t *testing.T, query string) *watchStream {
	t.Helper()
	return f.watchAs(t, query, "")
}

// watchAs is watch with an Accept header.
func (f *fixture) watchAs(t *testing.T, query, accept string) *watchStream {
	t.Helper()
	return streamOf(t, f.request(t, base+query, accept))
}

// streamOf reads a watch's answer.
func streamOf(t *testing.T, resp *http.Response) *watchStream {
	t.Helper()
	t.Cleanup(func() { _ = resp.Body.Close() })
	ws := &watchStream{events: make(chan map[string]json.RawMessage, 100), resp: resp}
	go func() {
		defer close(ws.events)
		dec := json.NewDecoder(resp.Body)
		for {
			var ev map[string]json.RawMessage
			if dec.Decode(&ev) != nil {
				return
			}
			ws.events <- ev
		}
	}()
	return ws
}

// next is the next event: its type, and the object's name, or its resourceVersion for a
// bookmark, or the code for an error.
func (ws *watchStream) next(t *testing.T) string {
	t.Helper()
	select {
	case ev, ok := <-ws.events:
		if !ok {
			return "closed"
		}
		var typ string
		_ = json.Unmarshal(ev["type"], &typ)
		var obj struct {
			metav1.ObjectMeta `json:"metadata"`
			Code              int `json:"code"`
		}
		_ = json.Unmarshal(ev["object"], &obj)
		switch typ {
		case "BOOKMARK":
			return fmt.Sprintf("BOOKMARK %s %s", obj.ResourceVersion, obj.Annotations[metav1.InitialEventsAnnotationKey])
		case "ERROR":
			return fmt.Sprintf("ERROR %d", obj.Code)
		}
		return typ + " " + obj.Name
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event in 10 s")
	}
	return ""
}

func TestWatchFromAListsRevision(t *testing.T) {
	f := newFixture(t, mesosTask("ns", "a", "id-a", "c1"))
	ctx := context.Background()
	_, b := f.get(t, base+"/namespaces/ns/mesostasks", "")
	rv := decode[mesosv1alpha1.MesosTaskList](t, b).ResourceVersion
	// A change between the list and the watch is not missed.
	if err := f.c.Create(ctx, mesosTask("ns", "b", "id-b", "c1")); err != nil {
		t.Fatal(err)
	}
	ws := f.watch(t, "/namespaces/ns/mesostasks?watch=true&resourceVersion="+rv)
	if got := ws.next(t); got != "ADDED b" {
		t.Fatalf("first event %s", got)
	}
	if err := f.c.Create(ctx, mesosTask("other", "x", "id-x", "c1")); err != nil {
		t.Fatal(err)
	}
	a := f.store.Get(types.NamespacedName{Namespace: "ns", Name: "a"}).DeepCopy()
	a.Status.MesosState = "TASK_FINISHED"
	if err := f.c.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got := ws.next(t); got != "MODIFIED a" {
		t.Errorf("after another namespace's add and a change: %s", got)
	}
}

func TestWatchSelectionAndInitialEvents(t *testing.T) {
	f := newFixture(t, mesosTask("ns", "a", "id-a", "c1"), mesosTask("ns", "b", "id-b", "c2"))
	ctx := context.Background()
	ws := f.watch(t, "/mesostasks?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&fieldSelector=spec.clusterRef%3Dc1")
	if got := ws.next(t); got != "ADDED a" {
		t.Fatalf("initial: %s", got)
	}
	if got := ws.next(t); got != fmt.Sprintf("BOOKMARK %d true", f.store.Revision()) {
		t.Fatalf("after the initial events: %s", got)
	}
	// b comes into the selection, then a leaves it: added, then deleted.
	b := f.store.Get(types.NamespacedName{Namespace: "ns", Name: "b"}).DeepCopy()
	b.Spec.ClusterRef = "c1"
	if err := f.c.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	a := f.store.Get(types.NamespacedName{Namespace: "ns", Name: "a"}).DeepCopy()
	a.Spec.ClusterRef = "c2"
	if err := f.c.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got := ws.next(t); got != "ADDED b" {
		t.Errorf("into the selection: %s", got)
	}
	if got := ws.next(t); got != "DELETED a" {
		t.Errorf("out of it: %s", got)
	}
}

func TestWatchFromARevisionNotHeldIsExpired(t *testing.T) {
	f := newFixture(t, mesosTask("ns", "a", "id-a", "c1"))
	for _, rv := range []string{"1", "abc", fmt.Sprint(f.store.Revision() + 10)} {
		ws := f.watch(t, "/mesostasks?watch=1&resourceVersion="+rv)
		if got := ws.next(t); got != "ERROR 410" {
			t.Errorf("from %s: %s", rv, got)
		}
		if got := ws.next(t); got != "closed" {
			t.Errorf("from %s, after the error: %s", rv, got)
		}
	}
	// No resourceVersion: every object as added first.
	ws := f.watch(t, "/mesostasks?watch=1")
	if got := ws.next(t); got != "ADDED a" {
		t.Errorf("from now: %s", got)
	}
}

// kubectl get -w asks for Tables: each event's object is a Table of its one row, the
// column definitions in the first only.
func TestATableWatchSendsTheColumnsOnce(t *testing.T) {
	f := newFixture(t, mesosTask("ns", "a", "id-a", "c1"))
	ws := f.watchAs(t, "/namespaces/ns/mesostasks?watch=true", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
	if err := f.c.Create(context.Background(), mesosTask("ns", "b", "id-b", "c1")); err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		name    string
		columns int
	}{{"a", len(columns)}, {"b", 0}} {
		var ev map[string]json.RawMessage
		select {
		case ev = <-ws.events:
		case <-time.After(10 * time.Second):
			t.Fatal("no watch event in 10 s")
		}
		tbl := decode[metav1.Table](t, ev["object"])
		if tbl.Kind != "Table" || len(tbl.Rows) != 1 || tbl.Rows[0].Cells[0] != want.name || len(tbl.ColumnDefinitions) != want.columns {
			t.Errorf("event %d: %s", i, ev["object"])
		}
	}
}

func TestTheSoleMesosTasksTakeTheCRDsNames(t *testing.T) {
	for _, sole := range []bool{false, true} {
		f := &fixture{srv: httptest.NewServer(&Handler{Store: taskstore.New(nil), Sole: sole,
			Authenticator: fixedUser{&user.DefaultInfo{Name: "alice"}}, Authorizer: &allowIn{}})}
		t.Cleanup(f.srv.Close)
		want := "[] []"
		if sole {
			want = "[mt] [k8sm]"
		}
		_, b := f.get(t, base, "")
		r := decode[metav1.APIResourceList](t, b).APIResources[0]
		if got := fmt.Sprint(r.ShortNames, r.Categories); got != want {
			t.Errorf("sole %v: discovery's short names and categories %s, want %s", sole, got, want)
		}
		_, b = f.get(t, "/apis", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
		ar := decode[apidiscoveryv2.APIGroupDiscoveryList](t, b).Items[0].Versions[0].Resources[0]
		if got := fmt.Sprint(ar.ShortNames, ar.Categories); got != want {
			t.Errorf("sole %v: aggregated discovery's short names and categories %s, want %s", sole, got, want)
		}
	}
}
