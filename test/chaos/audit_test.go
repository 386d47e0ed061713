package chaos

import (
	"bufio"
	"encoding/json"
	"os"
	"sort"
	"time"
)

// auditPolicy makes kube-apiserver log every pod deletion with who asked for it: the
// checker tells a pod the test or a controller deleted from one that vanished. Bindings
// and the MesosTasks' writes are logged too, for a person reading a failed run.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
- level: Metadata
  verbs: ["delete", "deletecollection"]
  resources:
  - group: ""
    resources: ["pods"]
- level: Metadata
  verbs: ["create"]
  resources:
  - group: ""
    resources: ["pods/binding"]
- level: Metadata
  verbs: ["create", "update", "patch", "delete"]
  resources:
  - group: "mesos.k8sm.io"
    resources: ["mesostasks", "mesostasks/status"]
- level: None
`

// auditEvent is the part of an audit.k8s.io/v1 Event the checker reads.
type auditEvent struct {
	Stage string `json:"stage"`
	Verb  string `json:"verb"`
	User  struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	RequestReceivedTimestamp time.Time `json:"requestReceivedTimestamp"`
}

// podDelete is one pod deletion the API server carried out.
type podDelete struct {
	user string
	at   time.Time
	code int
}

// readPodDeletes reads the successful pod deletions of the audit log, by namespace/name,
// oldest first.
func readPodDeletes(path string) (map[string][]podDelete, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	out := map[string][]podDelete{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e auditEvent
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Stage != "ResponseComplete" || e.ObjectRef == nil || e.ObjectRef.Resource != "pods" ||
			e.ObjectRef.Subresource != "" || (e.Verb != "delete" && e.Verb != "deletecollection") {
			continue
		}
		if e.ResponseStatus == nil || e.ResponseStatus.Code >= 300 {
			continue // refused (not found, precondition failed): deleted nothing
		}
		key := e.ObjectRef.Namespace + "/" + e.ObjectRef.Name
		if e.Verb == "deletecollection" {
			key = e.ObjectRef.Namespace + "/*"
		}
		out[key] = append(out[key], podDelete{user: e.User.Username, at: e.RequestReceivedTimestamp, code: e.ResponseStatus.Code})
	}
	for _, ds := range out {
		sort.Slice(ds, func(i, j int) bool { return ds[i].at.Before(ds[j].at) })
	}
	return out, sc.Err()
}

// firstDelete is the first deletion of a pod of that name created at created (a
// creation timestamp has whole seconds), or nil.
func firstDelete(deletes map[string][]podDelete, namespace, name string, created time.Time) *podDelete {
	var first *podDelete
	for _, key := range []string{namespace + "/" + name, namespace + "/*"} {
		for i := range deletes[key] {
			d := &deletes[key][i]
			if !d.at.Before(created) && (first == nil || d.at.Before(first.at)) {
				first = d
				break
			}
		}
	}
	return first
}
