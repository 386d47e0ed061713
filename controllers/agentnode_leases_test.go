package controllers

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// A Node's Lease is read from the API server once; later renewals update the copy the
// last one returned, as a kubelet renews its own, so no watch of kube-node-lease is
// needed. A Lease gone behind the manager's back is read again, and made anew.
func TestRenewLeaseFromTheLastCopy(t *testing.T) {
	var reads atomic.Int32
	c, lease := staleLease(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, o client.Object, opts ...client.GetOption) error {
			if _, ok := o.(*coordinationv1.Lease); ok {
				reads.Add(1)
			}
			return c.Get(ctx, key, o, opts...)
		}})
	r := &AgentNodeReconciler{Client: c}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}
	renewedAt := func() time.Time {
		t.Helper()
		got := &coordinationv1.Lease{}
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(lease), got); err != nil {
			t.Fatal(err)
		}
		reads.Add(-1) // the test's own
		return got.Spec.RenewTime.Time
	}

	now := time.Now()
	for i := range 3 {
		at := now.Add(time.Duration(i) * r.leaseDuration() / 2)
		if err := r.renewLease(context.Background(), node, at, r.leaseDuration()/4); err != nil {
			t.Fatal(err)
		}
		if got := renewedAt(); !got.Equal(at.Truncate(time.Microsecond)) {
			t.Fatalf("renewal %d: renewed at %v, want %v", i, got, at)
		}
	}
	if n := reads.Load(); n != 1 {
		t.Fatalf("3 renewals read the Lease %d times, want once", n)
	}

	// Deleted behind the manager's back: the renewal fails, the next reads it again and
	// makes it anew.
	if err := c.Delete(context.Background(), lease.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	later := now.Add(2 * r.leaseDuration())
	if err := r.renewLease(context.Background(), node, later, r.leaseDuration()/4); err == nil {
		t.Fatal("renewing a Lease that is gone succeeded")
	}
	if err := r.renewLease(context.Background(), node, later, r.leaseDuration()/4); err != nil {
		t.Fatal(err)
	}
	if got := renewedAt(); !got.Equal(later.Truncate(time.Microsecond)) {
		t.Fatalf("the Lease made anew is renewed at %v, want %v", got, later)
	}
	if n := reads.Load(); n != 2 {
		t.Fatalf("the Lease was read %d times, want twice", n)
	}
}

// A Lease is renewed by an Update, as a kubelet renews its own (protobuf, no patch for the
// API server to apply); one written since the copy read is renewed by a merge patch.
func TestRenewLeaseUpdatesAndPatchesAfterAConflict(t *testing.T) {
	for _, tc := range []struct {
		name      string
		conflicts bool
		want      []string
	}{
		{name: "as read", want: []string{"update"}},
		{name: "written since", conflicts: true, want: []string{"update", "patch"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var writes []string
			note := func(w string) { mu.Lock(); writes = append(writes, w); mu.Unlock() }
			c, lease := staleLease(interceptor.Funcs{
				Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
					note("update")
					if tc.conflicts {
						return apierrors.NewConflict(coordinationv1.Resource("leases"), o.GetName(), errors.New("written since"))
					}
					return c.Update(ctx, o, opts...)
				},
				Patch: func(ctx context.Context, c client.WithWatch, o client.Object, p client.Patch, opts ...client.PatchOption) error {
					note("patch")
					return c.Patch(ctx, o, p, opts...)
				}})
			r := &AgentNodeReconciler{Client: c}
			now := time.Now()
			if err := r.renewLease(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}, now, r.leaseDuration()/4); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(writes, tc.want) {
				t.Errorf("writes %v, want %v", writes, tc.want)
			}
			got := &coordinationv1.Lease{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(lease), got); err != nil {
				t.Fatal(err)
			}
			if got.Spec.RenewTime == nil || !got.Spec.RenewTime.Time.Equal(now.Truncate(time.Microsecond)) || ptr.Deref(got.Spec.HolderIdentity, "") != "n" {
				t.Errorf("Lease spec %+v, want renewed at %v and held by n", got.Spec, now)
			}
		})
	}
}

// staleLease is a fake client holding Node n's Lease, last renewed a minute ago, with
// funcs intercepting its calls.
func staleLease(funcs interceptor.Funcs) (client.WithWatch, *coordinationv1.Lease) {
	sch := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(sch)
	old := metav1.NewMicroTime(time.Now().Add(-time.Minute))
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: nodeLeaseNamespace, Name: "n"},
		Spec: coordinationv1.LeaseSpec{RenewTime: &old}}
	return fake.NewClientBuilder().WithScheme(sch).WithObjects(lease).WithInterceptorFuncs(funcs).Build(), lease
}
