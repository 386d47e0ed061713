package kubeletauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/k8sm/k8sm/internal/servingcert"
)

// fakeCluster is an API server holding CertificateSigningRequests, with a signer that,
// when a request is read approved, signs it (the PEM "issued"), denies it, or leaves
// it (none).
type fakeCluster struct {
	client.Client
	signer string // "sign", "deny" or "" (no signer)

	mu       sync.Mutex
	creates  int
	approved []certificatesv1.CertificateSigningRequestCondition
}

func newFakeCluster(t *testing.T, signer string, objs ...client.Object) *fakeCluster {
	t.Helper()
	sch := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(sch); err != nil {
		t.Fatal(err)
	}
	f := &fakeCluster{signer: signer}
	f.Client = fake.NewClientBuilder().WithScheme(sch).WithObjects(objs...).
		WithStatusSubresource(&certificatesv1.CertificateSigningRequest{}).
		WithInterceptorFuncs(interceptor.Funcs{
			Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				f.mu.Lock()
				f.creates++
				f.mu.Unlock()
				return c.Create(ctx, obj, opts...)
			},
			SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
				if csr, ok := obj.(*certificatesv1.CertificateSigningRequest); ok && sub == "approval" {
					f.mu.Lock()
					f.approved = append(f.approved, csr.Status.Conditions...)
					f.mu.Unlock()
				}
				return c.SubResource(sub).Update(ctx, obj, opts...)
			},
			Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				if err := c.Get(ctx, key, obj, opts...); err != nil {
					return err
				}
				csr, ok := obj.(*certificatesv1.CertificateSigningRequest)
				if !ok || condition(csr, certificatesv1.CertificateApproved) == nil || len(csr.Status.Certificate) > 0 || ended(csr) != nil {
					return nil
				}
				switch f.signer {
				case "sign":
					csr.Status.Certificate = []byte("issued")
				case "deny":
					csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
						Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue, Reason: "SignerValidationFailure", Message: "not a kubelet's"})
				default:
					return nil
				}
				return c.Status().Update(ctx, csr)
			},
		}).Build()
	return f
}

func (f *fakeCluster) signerOf() ClientSigner {
	return ClientSigner{Client: f, Reader: f, Poll: 5 * time.Millisecond}
}

func (f *fakeCluster) exists(t *testing.T, name string) bool {
	t.Helper()
	err := f.Get(context.Background(), client.ObjectKey{Name: name}, &certificatesv1.CertificateSigningRequest{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

func testRequest(t *testing.T) SignRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	names := servingcert.AgentNames("agent-1", "192.0.2.7")
	req, err := servingcert.NewRequest(key, "mesos-c-agent-1", names)
	if err != nil {
		t.Fatal(err)
	}
	return SignRequest{Cluster: "c", Node: "mesos-c-agent-1", AgentID: "a1", Request: req, Names: names, ExpirationSeconds: 3600}
}

// A request is filed for the kubelet-serving signer with the serving usages, the life
// asked and labels naming the cluster and Node; approved with a message saying what was
// checked; its certificate returned once signed; and the request deleted.
func TestSignFilesApprovesWaitsAndDeletes(t *testing.T) {
	f := newFakeCluster(t, "sign")
	r := testRequest(t)
	name := servingcert.ObjectName(r.Cluster, r.Node, r.Request)
	var filed *certificatesv1.CertificateSigningRequest
	f.Client = interceptor.NewClient(f.Client.(client.WithWatch), interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			filed = obj.(*certificatesv1.CertificateSigningRequest).DeepCopy()
			return c.Create(ctx, obj, opts...)
		},
	})

	cert, err := f.signerOf().Sign(context.Background(), r)
	if err != nil || string(cert) != "issued" {
		t.Fatalf("Sign: %q, %v", cert, err)
	}
	if filed == nil || filed.Name != name || filed.Spec.SignerName != "kubernetes.io/kubelet-serving" || string(filed.Spec.Request) != string(r.Request) ||
		servingcert.CheckUsages(filed.Spec.Usages) != nil || *filed.Spec.ExpirationSeconds != 3600 ||
		filed.Labels["mesos.k8sm.io/cluster"] != "c" || filed.Labels["mesos.k8sm.io/node"] != "mesos-c-agent-1" {
		t.Errorf("filed %+v", filed)
	}
	if len(f.approved) != 1 || f.approved[0].Reason != "K8smAgentServingCertificate" || f.approved[0].Status != corev1.ConditionTrue ||
		!strings.Contains(f.approved[0].Message, "Node mesos-c-agent-1 of Mesos agent a1") || !strings.Contains(f.approved[0].Message, "agent-1, 192.0.2.7") {
		t.Errorf("approved with %+v", f.approved)
	}
	if f.exists(t, name) {
		t.Error("the request is still there once answered")
	}
}

// The same request, sent again while its object is pending, is not filed twice: the
// object made for it is approved and waited on.
func TestSignReusesTheRequestFiledBefore(t *testing.T) {
	r := testRequest(t)
	name := servingcert.ObjectName(r.Cluster, r.Node, r.Request)
	pending := &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"mesos.k8sm.io/cluster": "c"}},
		Spec: certificatesv1.CertificateSigningRequestSpec{Request: r.Request, SignerName: servingcert.SignerName, Usages: servingcert.Usages}}
	f := newFakeCluster(t, "sign", pending)
	cert, err := f.signerOf().Sign(context.Background(), r)
	if err != nil || string(cert) != "issued" {
		t.Fatalf("Sign: %q, %v", cert, err)
	}
	var all certificatesv1.CertificateSigningRequestList
	if err := f.List(context.Background(), &all); err != nil || len(all.Items) != 0 {
		t.Errorf("requests left: %d, %v", len(all.Items), err)
	}
	if len(f.approved) != 1 {
		t.Errorf("approved %d times", len(f.approved))
	}
}

// An object of the name k8sm would give the request, that k8sm did not file for it
// (another request, signer or usages under that name), is neither approved nor
// deleted.
func TestSignRefusesAnObjectItDidNotFile(t *testing.T) {
	r := testRequest(t)
	name := servingcert.ObjectName(r.Cluster, r.Node, r.Request)
	for what, spec := range map[string]certificatesv1.CertificateSigningRequestSpec{
		"another request": {Request: testRequest(t).Request, SignerName: servingcert.SignerName, Usages: servingcert.Usages},
		"another signer":  {Request: r.Request, SignerName: certificatesv1.KubeAPIServerClientSignerName, Usages: servingcert.Usages},
		"client auth":     {Request: r.Request, SignerName: servingcert.SignerName, Usages: append([]certificatesv1.KeyUsage{certificatesv1.UsageClientAuth}, servingcert.Usages...)},
	} {
		t.Run(what, func(t *testing.T) {
			f := newFakeCluster(t, "sign", &certificatesv1.CertificateSigningRequest{
				ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"mesos.k8sm.io/cluster": "c"}}, Spec: spec})
			if _, err := f.signerOf().Sign(context.Background(), r); err == nil || !strings.Contains(err.Error(), "k8sm did not file") {
				t.Fatalf("Sign: %v", err)
			}
			if len(f.approved) != 0 || !f.exists(t, name) {
				t.Errorf("approved %d times; still there: %v", len(f.approved), f.exists(t, name))
			}
		})
	}
}

// A request the signer fails is answered with why, and deleted.
func TestSignFailed(t *testing.T) {
	f := newFakeCluster(t, "deny")
	r := testRequest(t)
	_, err := f.signerOf().Sign(context.Background(), r)
	if err == nil || !strings.Contains(err.Error(), "is Failed: not a kubelet's (SignerValidationFailure)") {
		t.Fatalf("Sign: %v", err)
	}
	if f.exists(t, servingcert.ObjectName(r.Cluster, r.Node, r.Request)) {
		t.Error("the request is still there once answered")
	}
}

// Where no signer signs, Sign gives up when its context ends, with ErrNotSigned and a
// message saying what to run, and deletes the request.
func TestSignGivesUpWithoutASigner(t *testing.T) {
	f := newFakeCluster(t, "")
	r := testRequest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := f.signerOf().Sign(ctx, r)
	if !errors.Is(err, ErrNotSigned) || !strings.Contains(err.Error(), "--cluster-signing-kubelet-serving-cert-file") {
		t.Fatalf("Sign: %v, want ErrNotSigned saying what to run", err)
	}
	if len(f.approved) != 1 {
		t.Errorf("approved %d times", len(f.approved))
	}
	if f.exists(t, servingcert.ObjectName(r.Cluster, r.Node, r.Request)) {
		t.Error("the request is still there once answered")
	}
}
