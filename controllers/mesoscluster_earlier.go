package controllers

import (
	"context"
	"fmt"
	"sync"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
)

// Every framework names its MesosCluster and the Kubernetes cluster in its
// FrameworkInfo's labels, which Mesos shows with it (its web UI, GET_FRAMEWORKS). A
// cluster that holds no framework id, restored from a backup that leaves status out or
// created again under its name after deletionPolicy Orphan, takes back the framework of
// those labels that no scheduler holds (framework.Config.Adopt) rather than register a
// new one beside it: the earlier tasks are then reconciled, those whose pods are gone
// killed, and a StatefulSet's pod made again under its name waits for its earlier task
// (learnEarlierTasks) instead of running beside it until the old framework's failover
// timeout.

const (
	// LabelFrameworkCluster is the FrameworkInfo label that names the MesosCluster.
	LabelFrameworkCluster = "mesos.k8sm.io/mesoscluster"
	// LabelFrameworkKubernetes is the FrameworkInfo label that names the Kubernetes
	// cluster: the UID of its kube-system namespace, which lives as long as it does.
	LabelFrameworkKubernetes = "mesos.k8sm.io/kubernetes-cluster"
)

// kubernetesID is the UID of the kube-system namespace, read once ("" when there is no
// such namespace or the manager may not read it: frameworks are then not taken back).
type kubernetesID struct {
	mu   sync.Mutex
	read bool
	uid  types.UID
}

// load reads the UID, once: a read that failed otherwise than by NotFound or Forbidden
// is an error, and the next call reads again.
func (k *kubernetesID) load(ctx context.Context, r *MesosClusterReconciler) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.read {
		return nil
	}
	reader := r.APIReader
	if reader == nil {
		reader = r.Client
	}
	ns := &corev1.Namespace{}
	err := reader.Get(ctx, types.NamespacedName{Name: metav1.NamespaceSystem}, ns)
	switch {
	case err == nil:
		k.uid = ns.UID
	case apierrors.IsNotFound(err), apierrors.IsForbidden(err):
		ctrl.LoggerFrom(ctx).Info("Cannot tell this Kubernetes cluster by its kube-system namespace; a MesosCluster without status.frameworkID registers a new framework, never taking back an earlier one", "error", err.Error())
	default:
		return fmt.Errorf("reading namespace %s, which tells this Kubernetes cluster's frameworks: %w", metav1.NamespaceSystem, err)
	}
	k.read = true
	return nil
}

// get is the UID load read ("" before, or when there was none to read).
func (k *kubernetesID) get() types.UID {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.uid
}

// frameworkLabels puts the cluster's labels into the config, and has it take back an
// earlier framework of them when the Kubernetes cluster is known.
func (r *MesosClusterReconciler) frameworkLabels(mc *mesosv1alpha1.MesosCluster, cfg *framework.Config) {
	labels := []mesos.Label{{Key: LabelFrameworkCluster, Value: ptr.To(mc.Name)}}
	if uid := r.kubernetes.get(); uid != "" {
		labels = append(labels, mesos.Label{Key: LabelFrameworkKubernetes, Value: ptr.To(string(uid))})
		cfg.Adopt = labels
	}
	cfg.FrameworkInfo.Labels = &mesos.Labels{Labels: labels}
}

// tookBack records the event of a framework taken back, once its id is first written.
func (r *MesosClusterReconciler) tookBack(mc *mesosv1alpha1.MesosCluster, before string) {
	id := mc.Status.FrameworkID
	if before != "" || id == "" {
		return
	}
	d, _ := r.Registry.DriverAndHash(mc.Name)
	if d == nil || d.Adopted() != id {
		return
	}
	r.Recorder.Eventf(mc, nil, corev1.EventTypeNormal, ReasonFrameworkTakenBack, "Subscribe",
		"Took back framework %s, an earlier one of this MesosCluster that no scheduler held (the cluster had no status.frameworkID: restored without status, or created again after deletionPolicy Orphan): its tasks whose pods are gone are killed", id)
}

// ReasonFrameworkTakenBack is the event of a cluster that took back its earlier framework.
const ReasonFrameworkTakenBack = "FrameworkTakenBack"
