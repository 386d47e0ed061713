package taskapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// BenchmarkList lists 10,000 served MesosTasks, as kubectl get -A does (a Table) and as
// a client of the objects does (JSON): what a list costs the manager.
func BenchmarkList(b *testing.B) {
	objs := make([]*mesosv1alpha1.MesosTask, 10000)
	for i := range objs {
		objs[i] = mesosTask(fmt.Sprintf("ns-%d", i%100), fmt.Sprintf("pod-%d", i), fmt.Sprintf("id-%d", i), "c1")
	}
	f := newFixture(b, objs...)
	h := &Handler{Store: f.store, Authenticator: fixedUser{&user.DefaultInfo{Name: "alice"}}, Authorizer: f.authz}
	for _, tc := range []struct{ name, accept string }{
		{"json", ""},
		{"table", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, base+"/mesostasks", nil)
				if tc.accept != "" {
					req.Header.Set("Accept", tc.accept)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body.String())
				}
				b.SetBytes(int64(w.Body.Len()))
			}
		})
	}
}
