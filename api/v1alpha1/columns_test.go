package v1alpha1

import (
	"encoding/json"
	"testing"

	"k8s.io/client-go/util/jsonpath"
)

// The integer columns of `kubectl get mesosclusters` show 0, not nothing, for a cluster
// with no agents or no running task yet (a status the manager wrote).
func TestClusterCountColumnsShowZero(t *testing.T) {
	raw, err := json.Marshal(&MesosCluster{Status: MesosClusterStatus{Tasks: &TaskCounts{}}})
	if err != nil {
		t.Fatal(err)
	}
	var obj any
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"{.status.agents}", "{.status.tasks.running}"} {
		jp := jsonpath.New(path)
		if err := jp.Parse(path); err != nil {
			t.Fatal(err)
		}
		got, err := jp.FindResults(obj)
		if err != nil || len(got) != 1 || len(got[0]) != 1 {
			t.Errorf("%s of a cluster with none: %v, %v; want 0", path, got, err)
			continue
		}
		if n, ok := got[0][0].Interface().(float64); !ok || n != 0 {
			t.Errorf("%s = %v, want 0", path, got[0][0].Interface())
		}
	}
}
