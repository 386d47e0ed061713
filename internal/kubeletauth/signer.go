package kubeletauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/agentnode"
	"github.com/k8sm/k8sm/internal/servingcert"
)

// LabelNode names the Node a CertificateSigningRequest the manager files is for (when
// the Node's name is a valid label value; the annotation of the same key always does).
const LabelNode = "mesos.k8sm.io/node"

// annotationAgent names the Mesos agent whose executor asked.
const annotationAgent = "mesos.k8sm.io/agent"

// ErrNotSigned is the error of a request the manager approved and no signer signed in
// the time given: the cluster runs no kubernetes.io/kubelet-serving signer, most likely.
var ErrNotSigned = errors.New("no signer issued the certificate in time")

// defaultPoll is how often ClientSigner reads a request it waits on.
const defaultPoll = 500 * time.Millisecond

// deleteTimeout bounds the deletion of a request once it is answered.
const deleteTimeout = 5 * time.Second

// SignRequest is an executor's certificate request, which the caller has checked
// (servingcert.Check) for Node, the Node of the agent AgentID it came from, and Names,
// that agent's.
type SignRequest struct {
	Cluster, Node, AgentID string
	// Request is the PEM certificate request.
	Request []byte
	Names   servingcert.Names
	// ExpirationSeconds is the life asked of the certificate (the signer may cut it).
	ExpirationSeconds int32
}

// ClientSigner files executors' certificate requests with the cluster's
// kubernetes.io/kubelet-serving signer, as CertificateSigningRequests it approves
// itself, with the manager's permission to create, read and delete them and to
// approve for that signer only.
type ClientSigner struct {
	// Client creates, approves and deletes requests.
	Client client.Client
	// Reader reads them from the API server, one by name: requests are never cached or
	// listed.
	Reader client.Reader
	// Poll is how often a request is read while it waits for its certificate; 0 means
	// every 500 ms.
	Poll time.Duration
}

// Sign files r (or finds the request filed for it before, still there), approves it,
// and waits until ctx ends for the signer's certificate, which it returns in PEM. The
// request is deleted before Sign returns, whatever the outcome: the executor asks again
// if it must, and the cluster keeps no trace of requests answered.
func (c ClientSigner) Sign(ctx context.Context, r SignRequest) ([]byte, error) {
	name := servingcert.ObjectName(r.Cluster, r.Node, r.Request)
	expiration := r.ExpirationSeconds
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{agentnode.LabelCluster: r.Cluster},
			Annotations: map[string]string{LabelNode: r.Node, annotationAgent: r.AgentID}},
		Spec: certificatesv1.CertificateSigningRequestSpec{Request: r.Request, SignerName: servingcert.SignerName,
			Usages: servingcert.Usages, ExpirationSeconds: &expiration},
	}
	if len(validation.IsValidLabelValue(r.Node)) == 0 {
		csr.Labels[LabelNode] = r.Node
	}
	err := c.Client.Create(ctx, csr)
	if apierrors.IsAlreadyExists(err) {
		// Filed before for the same request (the executor asked again while it waited):
		// the one object serves both, if it is what k8sm would have filed.
		if csr, err = c.get(ctx, name); err == nil {
			err = isFiledFor(csr, r)
		}
		if err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("creating CertificateSigningRequest %s: %w", name, err)
	}
	defer c.delete(name, csr.UID)
	if err := c.approve(ctx, csr, servingcert.ApprovalMessage(r.Node, r.AgentID, r.Names)); err != nil {
		return nil, err
	}
	return c.wait(ctx, name)
}

// isFiledFor says whether an existing request of the name k8sm gives r is the one k8sm
// files for r: of the cluster, for r's request, signer and usages.
func isFiledFor(csr *certificatesv1.CertificateSigningRequest, r SignRequest) error {
	if csr.Labels[agentnode.LabelCluster] != r.Cluster || csr.Spec.SignerName != servingcert.SignerName ||
		!bytes.Equal(csr.Spec.Request, r.Request) || servingcert.CheckUsages(csr.Spec.Usages) != nil {
		return fmt.Errorf("a CertificateSigningRequest %s exists that k8sm did not file for this request: not approving it", csr.Name)
	}
	return nil
}

func (c ClientSigner) get(ctx context.Context, name string) (*certificatesv1.CertificateSigningRequest, error) {
	csr := &certificatesv1.CertificateSigningRequest{}
	if err := c.Reader.Get(ctx, client.ObjectKey{Name: name}, csr); err != nil {
		return nil, fmt.Errorf("reading CertificateSigningRequest %s: %w", name, err)
	}
	return csr, nil
}

// condition is the request's condition of type t, nil if none.
func condition(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) *certificatesv1.CertificateSigningRequestCondition {
	for i := range csr.Status.Conditions {
		if csr.Status.Conditions[i].Type == t {
			return &csr.Status.Conditions[i]
		}
	}
	return nil
}

// ended is the error of a request denied or failed, nil for one that may still be
// signed.
func ended(csr *certificatesv1.CertificateSigningRequest) error {
	for _, t := range []certificatesv1.RequestConditionType{certificatesv1.CertificateDenied, certificatesv1.CertificateFailed} {
		if cond := condition(csr, t); cond != nil && cond.Status == corev1.ConditionTrue {
			return fmt.Errorf("CertificateSigningRequest %s is %s: %s (%s)", csr.Name, t, cond.Message, cond.Reason)
		}
	}
	return nil
}

// approve adds the Approved condition, unless the request has it or has ended.
func (c ClientSigner) approve(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, msg string) error {
	for attempt := 0; ; attempt++ {
		if err := ended(csr); err != nil {
			return err
		}
		if cond := condition(csr, certificatesv1.CertificateApproved); cond != nil && cond.Status == corev1.ConditionTrue {
			return nil
		}
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: servingcert.ApprovalReason,
			Message: msg, LastUpdateTime: metav1.Now()})
		err := c.Client.SubResource("approval").Update(ctx, csr)
		if err == nil {
			return nil
		}
		if !apierrors.IsConflict(err) || attempt >= 3 {
			return fmt.Errorf("approving CertificateSigningRequest %s: %w", csr.Name, err)
		}
		if csr, err = c.get(ctx, csr.Name); err != nil {
			return err
		}
	}
}

// wait reads the request until it has its certificate, ends, or ctx does.
func (c ClientSigner) wait(ctx context.Context, name string) ([]byte, error) {
	poll := c.Poll
	if poll <= 0 {
		poll = defaultPoll
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var lastErr error
	for {
		csr, err := c.get(ctx, name)
		switch {
		case apierrors.IsNotFound(err):
			return nil, fmt.Errorf("CertificateSigningRequest %s was deleted before it was signed", name)
		case err != nil:
			lastErr = err // the API server may answer at the next read
		case len(csr.Status.Certificate) > 0:
			return csr.Status.Certificate, nil
		default:
			if err := ended(csr); err != nil {
				return nil, err
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return nil, fmt.Errorf("waiting for CertificateSigningRequest %s: %w", name, ctx.Err())
			}
			if lastErr != nil && !errors.Is(lastErr, context.DeadlineExceeded) && !errors.Is(lastErr, context.Canceled) {
				return nil, fmt.Errorf("%w (approved CertificateSigningRequest %s): %w", ErrNotSigned, name, lastErr)
			}
			return nil, fmt.Errorf("%w: CertificateSigningRequest %s is approved and not signed: does kube-controller-manager run the csrsigning controller with a %s signing key (--cluster-signing-kubelet-serving-cert-file and -key-file, or --cluster-signing-cert-file and -key-file)?",
				ErrNotSigned, name, servingcert.SignerName)
		case <-tick.C:
		}
	}
}

// delete removes a request once answered, if it is still the one filed (its UID). What
// it cannot remove (the API server did not answer, the manager stopped first) is left
// to the cluster's CSR cleaner (kube-controller-manager's csrcleaner), which removes
// old requests.
func (c ClientSigner) delete(name string, uid types.UID) {
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	var opts []client.DeleteOption
	if uid != "" {
		opts = append(opts, client.Preconditions{UID: &uid})
	}
	_ = c.Client.Delete(ctx, &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: name}}, opts...)
}
