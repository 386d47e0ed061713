package controllers

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/kubeletauth"
	"github.com/k8sm/k8sm/internal/metrics"
	"github.com/k8sm/k8sm/internal/scheduler"
)

// driverConfig builds the framework config of a cluster, reading its Secrets. On error
// it also returns the condition reason.
func (r *MesosClusterReconciler) driverConfig(ctx context.Context, mc *mesosv1alpha1.MesosCluster) (framework.Config, string, error) {
	cfg := framework.Config{
		Name:          mc.Name,
		Master:        mc.Spec.Master,
		FrameworkInfo: FrameworkInfo(mc),
		Log:           ctrl.LoggerFrom(ctx).WithValues("mesoscluster", mc.Name),
		Observer:      metrics.Cluster(mc.Name),
	}
	r.frameworkLabels(mc, &cfg)
	fw := mc.Spec.Framework
	if ref := fw.CredentialsSecretRef; ref != nil {
		data, reason, err := r.secretData(ctx, ref, "framework.credentialsSecretRef", ReasonCredentialsNotFound)
		if err != nil {
			return cfg, reason, err
		}
		for _, k := range []string{"principal", "secret"} {
			if len(data[k]) == 0 {
				return cfg, ReasonCredentialsInvalid, fmt.Errorf("Secret %s/%s (framework.credentialsSecretRef) has no key %q", ref.Namespace, ref.Name, k) //nolint:staticcheck // a condition message, a sentence
			}
		}
		// Mesos refuses a framework that authenticates as another principal than its
		// FrameworkInfo names (400, "Authenticated principal ... does not match ...").
		// What the Secret holds is not shown: a Secret filled by mistake may hold the
		// secret there, and the message goes to the status, events and log.
		if p := string(data["principal"]); fw.Principal != "" && p != fw.Principal {
			return cfg, ReasonCredentialsInvalid, fmt.Errorf("Secret %s/%s (framework.credentialsSecretRef) holds the credentials of another principal than spec.framework.principal (%q): Mesos refuses a framework that authenticates as another principal than it names; put the credentials of %q in the Secret", //nolint:staticcheck // a condition message, a sentence
				ref.Namespace, ref.Name, fw.Principal, fw.Principal)
		}
		if plaintextMaster(mc) && !fw.AllowPlaintextCredentials {
			return cfg, ReasonCredentialsNeedTLS, fmt.Errorf("The framework's credentials would travel unencrypted to %s: use https:// masters (or spec.tls with zk://), or set spec.framework.allowPlaintextCredentials: true", mc.Spec.Master) //nolint:staticcheck // a condition message, a sentence
		}
		cfg.Credentials = &framework.Credentials{Principal: string(data["principal"]), Secret: string(data["secret"])}
	}
	if t := mc.Spec.TLS; t != nil {
		cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // the user asked for it
		if ref := t.CASecretRef; ref != nil {
			data, reason, err := r.secretData(ctx, ref, "tls.caSecretRef", ReasonCASecretNotFound)
			if err != nil {
				return cfg, reason, err
			}
			key := ref.CAKey()
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(data[key]) {
				return cfg, ReasonCAInvalid, fmt.Errorf("Secret %s/%s (tls.caSecretRef) has no PEM certificate under key %q", ref.Namespace, ref.Name, key) //nolint:staticcheck // a condition message, a sentence
			}
			cfg.TLS.RootCAs = pool
			sum := sha256.Sum256(data[key])
			cfg.RootCAsDigest = hex.EncodeToString(sum[:])
		}
	}
	if r.DriverOptions != nil {
		r.DriverOptions(&cfg)
	}
	return cfg, "", nil
}

// secretData reads the Secret ref names. A Secret outside SecretNamespace is refused
// before it is read: the manager may read Secrets in its own namespace only, so that a
// person who may create a MesosCluster cannot make it read (and send to a master of
// their choosing) a Secret of any namespace.
func (r *MesosClusterReconciler) secretData(ctx context.Context, ref *mesosv1alpha1.SecretKeyRef, field, notFound string) (map[string][]byte, string, error) {
	if r.SecretNamespace != "" && ref.Namespace != r.SecretNamespace {
		return nil, ReasonSecretNamespace, fmt.Errorf("Secret %s/%s (%s) is not in %s, the only namespace the manager reads Secrets from: put it there", //nolint:staticcheck // a condition message, a sentence
			ref.Namespace, ref.Name, field, r.SecretNamespace)
	}
	var s corev1.Secret
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, notFound, secretUnreadError{error: fmt.Errorf("Secret %s/%s (%s) not found", ref.Namespace, ref.Name, field), missing: true} //nolint:staticcheck // a condition message, a sentence
		}
		return nil, notFound, secretUnreadError{error: fmt.Errorf("reading Secret %s/%s (%s): %w", ref.Namespace, ref.Name, field, err)}
	}
	return s.Data, "", nil
}

// secretUnreadError says a Secret of the config could not be read: not there (being
// replaced, say), or the read failed (the API server busy). A driver already running
// keeps what it read before.
type secretUnreadError struct {
	error
	missing bool // not there; else the read failed
}

func (e secretUnreadError) Unwrap() error { return e.error }

// secretUnread says whether err is a Secret of the config that could not be read.
func secretUnread(err error) bool {
	var e secretUnreadError
	return errors.As(err, &e)
}

// secretReadFailed says whether err is a read of a Secret that failed (the Secret may
// well be there).
func secretReadFailed(err error) bool {
	var e secretUnreadError
	return errors.As(err, &e) && !e.missing
}

// plaintextMaster says whether the cluster reaches its masters without TLS: an http://
// URL in its list, or zk:// without spec.tls (the leader is then reached over http).
func plaintextMaster(mc *mesosv1alpha1.MesosCluster) bool {
	master := strings.TrimSpace(mc.Spec.Master)
	if strings.HasPrefix(master, "zk://") {
		return mc.Spec.TLS == nil
	}
	for _, m := range strings.Split(master, ",") {
		if !strings.HasPrefix(strings.TrimSpace(m), "https://") {
			return true
		}
	}
	return false
}

// failoverTimeout is how long Mesos keeps the cluster's framework and its tasks while
// it is disconnected: spec.framework.failoverTimeout, one week by default.
func failoverTimeout(mc *mesosv1alpha1.MesosCluster) time.Duration {
	if t := mc.Spec.Framework.FailoverTimeout; t != nil {
		return t.Duration
	}
	return mesosv1alpha1.DefaultFailoverTimeout
}

// FrameworkInfo is the FrameworkInfo a cluster subscribes with.
func FrameworkInfo(mc *mesosv1alpha1.MesosCluster) mesos.FrameworkInfo {
	fw := mc.Spec.Framework
	info := mesos.FrameworkInfo{
		User:  fw.User,
		Name:  fw.Name,
		Roles: fw.Roles,
	}
	if info.User == "" {
		info.User = "root"
	}
	if info.Name == "" {
		info.Name = "k8sm"
	}
	if len(info.Roles) == 0 {
		info.Roles = []string{"*"}
	}
	if fw.Principal != "" {
		info.Principal = &fw.Principal
	}
	secs := failoverTimeout(mc).Seconds()
	info.FailoverTimeout = &secs
	checkpoint := fw.Checkpoint == nil || *fw.Checkpoint
	info.Checkpoint = &checkpoint
	if fw.WebuiURL != "" {
		info.WebUiURL = &fw.WebuiURL
	}
	if mc.Status.FrameworkID != "" {
		info.ID = &mesos.FrameworkID{Value: mc.Status.FrameworkID}
	}
	caps := []mesos.FrameworkInfo_Capability_Type{mesos.FrameworkInfo_Capability_MULTI_ROLE}
	asked := fw.Capabilities
	if asked == nil {
		asked = []mesosv1alpha1.FrameworkCapability{"PARTITION_AWARE", "TASK_KILLING_STATE"}
	}
	for _, c := range asked {
		if v, ok := mesos.FrameworkInfo_Capability_Type_value[string(c)]; ok {
			caps = append(caps, mesos.FrameworkInfo_Capability_Type(v))
		}
	}
	for _, c := range caps {
		info.Capabilities = append(info.Capabilities, mesos.FrameworkInfo_Capability{Type: c})
	}
	return info
}

// configHash identifies a driver config; a change restarts the driver.
func configHash(cfg framework.Config) string {
	id := cfg.FrameworkInfo.ID
	cfg.FrameworkInfo.ID = nil // a new framework id is no reason to reconnect
	h := sha256.New()
	_ = json.NewEncoder(h).Encode(struct {
		Master   string
		Info     mesos.FrameworkInfo
		Creds    *framework.Credentials
		TLSSkip  bool
		TLSRoots bool
		CAs      string
	}{cfg.Master, cfg.FrameworkInfo, cfg.Credentials, cfg.TLS != nil && cfg.TLS.InsecureSkipVerify, cfg.TLS != nil && cfg.TLS.RootCAs != nil, cfg.RootCAsDigest})
	if cfg.TLS != nil && cfg.TLS.RootCAs != nil && cfg.RootCAsDigest == "" {
		for _, s := range cfg.TLS.RootCAs.Subjects() { //nolint:staticcheck // identity of the pool only
			h.Write(s)
		}
	}
	cfg.FrameworkInfo.ID = id
	return hex.EncodeToString(h.Sum(nil))
}

// ensureDriver starts the cluster's driver, or restarts it when its config changed.
func (r *MesosClusterReconciler) ensureDriver(mc *mesosv1alpha1.MesosCluster, cfg framework.Config) (*framework.Driver, error) {
	hash := configHash(cfg)
	old, oldHash := r.Registry.DriverAndHash(mc.Name)
	if old != nil && oldHash == hash {
		return old, nil
	}
	if old != nil {
		// Keep the framework id the old driver learned, even if it is not persisted yet;
		// not one it took back and Mesos has not accepted yet (the new driver looks again).
		if id := old.Status().FrameworkID; id != "" {
			cfg.FrameworkInfo.ID = &mesos.FrameworkID{Value: id}
		}
		r.Registry.StopDriver(mc.Name)
	}
	var sched framework.Scheduler
	if r.NewScheduler != nil {
		sched = r.NewScheduler(mc)
	} else {
		cluster := mc.Name
		sched = r.Registry.EnsureScheduler(mc.Name, func() *scheduler.Scheduler {
			// Certificate requests are read one by one from the API server, never
			// through the cache, which would list and watch every one in the cluster.
			csrReader := indexer.Uncached(r.APIReader, r.Client)
			return scheduler.New(mc, scheduler.Options{Client: r.Client, APIReader: r.APIReader, Tasks: r.Tasks, Recorder: r.Recorder,
				Log: ctrl.Log.WithName("scheduler").WithValues("mesoscluster", mc.Name), ReconcileInterval: r.ReconcileInterval, RecordIdle: r.RecordIdle,
				TasksInMemory: r.TasksInMemory,
				Reviewer:      kubeletauth.ClientReviewer{Client: r.Client},
				Signer:        kubeletauth.ClientSigner{Client: r.Client, Reader: csrReader},
				Wake:          func() { r.Registry.Wake(cluster) }})
		})
	}
	name := mc.Name
	d, err := framework.NewDriver(cfg, sched, func() { r.Registry.WakeDriver(name) })
	if err != nil {
		return nil, err
	}
	r.Registry.PutDriver(mc.Name, d, hash)
	// Not subscribed until the master says so: the gauge is 0, not missing, while the
	// first attempt runs, however long it takes.
	metrics.Cluster(mc.Name).NotSubscribed()
	d.Start()
	return d, nil
}
