package controllers

import (
	"context"
	"errors"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
)

// A framework's labels name its cluster, and the Kubernetes cluster by its kube-system
// namespace's UID; only then does a cluster take back an earlier framework of them. A
// kube-system that is not there or may not be read is no error (nothing is taken back);
// another failure to read it is, and it is read again.
func TestFrameworkLabels(t *testing.T) {
	kubeSystem := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: metav1.NamespaceSystem, UID: "ks-uid"}}
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "kube-system", errors.New("no"))
	for _, tc := range []struct {
		name      string
		objs      []client.Object
		getErr    error
		wantErr   bool
		wantAdopt bool
	}{
		{name: "known", objs: []client.Object{kubeSystem}, wantAdopt: true},
		{name: "no kube-system"},
		{name: "forbidden", objs: []client.Object{kubeSystem}, getErr: forbidden},
		{name: "the API server fails", objs: []client.Object{kubeSystem}, getErr: apierrors.NewServiceUnavailable("busy"), wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(tc.objs...).
				WithInterceptorFuncs(interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
					if tc.getErr != nil {
						return tc.getErr
					}
					return c.Get(ctx, key, obj, opts...)
				}}).Build()
			r := &MesosClusterReconciler{Client: c}
			err := r.kubernetes.load(t.Context(), r)
			if (err != nil) != tc.wantErr {
				t.Fatalf("load: %v, want an error: %v", err, tc.wantErr)
			}
			if err != nil {
				tc.getErr = nil // read again, and now it answers
				if err := r.kubernetes.load(t.Context(), r); err != nil || r.kubernetes.get() != "ks-uid" {
					t.Fatalf("read again: %v, uid %q", err, r.kubernetes.get())
				}
				tc.wantAdopt = true
			}
			var cfg framework.Config
			r.frameworkLabels(&mesosv1alpha1.MesosCluster{ObjectMeta: metav1.ObjectMeta{Name: "c1"}}, &cfg)
			want := []mesos.Label{{Key: LabelFrameworkCluster, Value: new("c1")}}
			if tc.wantAdopt {
				want = append(want, mesos.Label{Key: LabelFrameworkKubernetes, Value: new("ks-uid")})
			}
			if got := cfg.FrameworkInfo.GetLabels().GetLabels(); !labelsEqual(got, want) {
				t.Errorf("labels = %v, want %v", got, want)
			}
			if (len(cfg.Adopt) > 0) != tc.wantAdopt || tc.wantAdopt && !labelsEqual(cfg.Adopt, want) {
				t.Errorf("Adopt = %v, want it %v", cfg.Adopt, tc.wantAdopt)
			}
		})
	}
}

func labelsEqual(a, b []mesos.Label) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].GetValue() != b[i].GetValue() {
			return false
		}
	}
	return true
}
