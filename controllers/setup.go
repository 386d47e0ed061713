package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/framework"
	"github.com/k8sm/k8sm/internal/indexer"
	"github.com/k8sm/k8sm/internal/scheduler"
	"github.com/k8sm/k8sm/internal/taskclient"
	"github.com/k8sm/k8sm/internal/taskstore"
)

// Options are the settings of the operator's reconcilers.
type Options struct {
	// Recorder gives each reconciler its event recorder, by the name events show as
	// their source. Required.
	Recorder func(name string) events.EventRecorder
	// ReconcileInterval is how often each cluster's tasks are reconciled with Mesos
	// besides after every subscription. Default scheduler.DefaultReconcileInterval.
	ReconcileInterval time.Duration
	// UnreachableTimeout is how long a task may stay unreachable before its pod is
	// Failed with reason NodeLost. Default 5m.
	UnreachableTimeout time.Duration
	// NodeGoneGracePeriod is how long the Node of an agent that left is kept. Default 5m.
	NodeGoneGracePeriod time.Duration
	// NodeLeaseDuration is the agent Nodes' Lease duration. Default 40s, as a kubelet's.
	NodeLeaseDuration time.Duration
	// DriverOptions adjust each framework driver's config (tests shorten backoffs).
	DriverOptions func(*framework.Config)
	// SecretNamespace is the only namespace the operator reads Secrets from (a
	// MesosCluster's credentialsSecretRef and caSecretRef): the manager's own, where its
	// RBAC lets it read them. Required unless AnySecretNamespace.
	SecretNamespace string
	// AnySecretNamespace lets Secrets come from any namespace: for tests that run the
	// reconcilers with an administrator's credentials, never for the manager.
	AnySecretNamespace bool
	// TasksInMemory has the MesosTasks held in the manager's memory alone, never written
	// to the API server (taskstore.InMemory): they are served by the manager
	// (internal/taskapi), and each leader starts with none, making them again from the
	// pods and Mesos's answers (docs/mesostask-served.md).
	TasksInMemory bool
}

// Reconcilers are the operator's reconcilers and the Registry and Store they share.
type Reconcilers struct {
	Registry *scheduler.Registry
	Store    *taskstore.Store
	// Leading marks the Store synced once the replica leads, with TasksInMemory (nil
	// without): what it holds first can be added to it before the manager starts.
	Leading *taskstore.Leading
	Cluster *MesosClusterReconciler
	Node    *AgentNodeReconciler
	Pod     *PodReconciler
	Task    *MesosTaskReconciler
}

// Setup wires the operator into a manager, all in this one place: every field index,
// the Registry of drivers and schedulers that the reconcilers share (stopped with the
// manager), the Store of MesosTasks (kept by its Watcher, or, with TasksInMemory, by the
// writes alone; read and written through the reconcilers' client: the cache keeps no
// MesosTasks), and the four reconcilers, each
// handed what it uses.
func Setup(mgr ctrl.Manager, o Options) (*Reconcilers, error) {
	if o.Recorder == nil {
		return nil, errors.New("controllers.Setup needs a Recorder")
	}
	if o.SecretNamespace == "" && !o.AnySecretNamespace {
		return nil, errors.New("controllers.Setup needs the SecretNamespace Secrets may be read from")
	}
	// The Store keeps no managed fields; each object shares its repeated strings.
	store := taskstore.New(internTask)
	if !o.TasksInMemory {
		meta, err := metadata.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
		if err != nil {
			return nil, fmt.Errorf("making the MesosTasks' metadata client: %w", err)
		}
		whole, err := client.NewWithWatch(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), HTTPClient: mgr.GetHTTPClient()})
		if err != nil {
			return nil, fmt.Errorf("making the MesosTasks' watch client: %w", err)
		}
		if err := mgr.Add(&taskstore.Watcher{Store: store, Reader: mgr.GetAPIReader(), Whole: whole, Metadata: meta,
			Elected: mgr.Elected(), Log: mgr.GetLogger().WithName("mesostasks")}); err != nil {
			return nil, err
		}
	}
	tasks, err := indexer.Setup(context.Background(), mgr.GetCache(), store)
	if err != nil {
		return nil, fmt.Errorf("registering the field indexes: %w", err)
	}
	registry := scheduler.NewRegistry()
	if err := mgr.Add(registry); err != nil {
		return nil, err
	}
	var c client.Client
	apiReader := mgr.GetAPIReader()
	// A burst defers its MesosTasks' creates for the API server's sake (scheduler
	// records.go): none to spare with them in memory, where a person then sees them at once.
	recordIdle := time.Duration(0)
	var leading *taskstore.Leading
	if o.TasksInMemory {
		takeover := &taskstore.Takeover{Reader: mgr.GetAPIReader(), Client: mgr.GetClient(), Log: mgr.GetLogger().WithName("mesostasks")}
		leading = &taskstore.Leading{Store: store, Takeover: takeover, Log: mgr.GetLogger().WithName("mesostasks")}
		if err := mgr.Add(leading); err != nil {
			return nil, err
		}
		c = taskstore.InMemory(mgr.GetClient(), store)
		apiReader = taskstore.Reader(apiReader, store)
		recordIdle = -1
	} else {
		// A MesosTask is created without decoding the API server's copy (taskclient).
		created, err := taskclient.Wrap(mgr.GetClient(), mgr.GetConfig(), mgr.GetHTTPClient())
		if err != nil {
			return nil, err
		}
		c = taskstore.Wrap(created, store)
	}
	r := &Reconcilers{
		Registry: registry,
		Store:    store,
		Leading:  leading,
		Cluster: &MesosClusterReconciler{Client: c, APIReader: apiReader, Recorder: o.Recorder("k8sm-mesoscluster"),
			Registry: registry, Tasks: tasks, Store: store, DriverOptions: o.DriverOptions, ReconcileInterval: o.ReconcileInterval, RecordIdle: recordIdle, TasksInMemory: o.TasksInMemory,
			SecretNamespace: o.SecretNamespace},
		Node: &AgentNodeReconciler{Client: c, APIReader: apiReader, Registry: registry, Recorder: o.Recorder("k8sm-agentnode"),
			GoneGracePeriod: o.NodeGoneGracePeriod, LeaseDuration: o.NodeLeaseDuration},
		Pod: &PodReconciler{Client: c, APIReader: apiReader, Registry: registry, Store: store, Tasks: tasks, Recorder: o.Recorder("k8sm-pod")},
		Task: &MesosTaskReconciler{Client: c, Registry: registry, Store: store, Recorder: o.Recorder("k8sm-mesostask"),
			UnreachableTimeout: o.UnreachableTimeout},
	}
	for _, c := range []struct {
		name  string
		setup func(ctrl.Manager) error
	}{
		{"MesosCluster", r.Cluster.SetupWithManager}, {"agent Node", r.Node.SetupWithManager},
		{"Pod", r.Pod.SetupWithManager}, {"MesosTask", r.Task.SetupWithManager},
	} {
		if err := c.setup(mgr); err != nil {
			return nil, fmt.Errorf("setting up the %s controller: %w", c.name, err)
		}
	}
	return r, nil
}
