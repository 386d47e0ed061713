package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/k8sm/k8sm/internal/testenv"
)

// tasksAPIWait is how long the demo waits for kube-apiserver to find the MesosTasks API
// available and list the pod's MesosTask there.
const tasksAPIWait = 30 * time.Second

// tasksAPIResource is the served MesosTasks as kubectl names them, in full: the CRD's
// group keeps mesostasks and mt.
const tasksAPIResource = "mesostasks.tasks.mesos.k8sm.io"

// registerTasksAPI registers the MesosTasks API with kube-apiserver, as
// dist/install-with-tasks-api.yaml does, for a manager serving it on loopback, and
// returns the manager's flag for it; with --tasks-api off, nothing.
func registerTasksAPI(ctx context.Context, o options, env *envtest.Environment, c client.Client) ([]string, error) {
	if !o.tasksAPI {
		return nil, nil
	}
	port, err := testenv.FreePort()
	if err != nil {
		return nil, err
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: managerNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating the manager's namespace: %w", err)
	}
	if err := testenv.RegisterTasksAPI(ctx, env.Config, managerNamespace, port); err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	say("MesosTasks API: served by the manager on https://%s, through kube-apiserver as %s", addr, tasksAPIResource)
	args := []string{"--tasks-api-bind-address=" + addr}
	if o.tasksInMemory {
		say("The MesosTasks are kept in the manager's memory alone, as dist/install-with-tasks-in-memory.yaml has them: no MesosTask CRD, kubectl get mesostasks reads the served ones")
		args = append(args, "--mesostask-storage=memory")
	}
	return args, nil
}

// crdPaths are the CRDs kube-apiserver starts with: those of o.crds, but the MesosTask's
// with the MesosTasks in memory (--tasks-in-memory), as that install has none.
func crdPaths(o options) ([]string, error) {
	if !o.tasksInMemory {
		return []string{o.crds}, nil
	}
	files, err := filepath.Glob(filepath.Join(o.crds, "*.yaml"))
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(files, func(f string) bool { return filepath.Base(f) == mesosTaskCRDFile }), nil
}

// mesosTaskCRDFile is the MesosTask CRD's file in config/crd/bases.
const mesosTaskCRDFile = "mesos.k8sm.io_mesostasks.yaml"

// waitForTasksInMemory waits, with the MesosTasks in memory, until kube-apiserver lists
// the pod's MesosTask among the served ones: kubectl get mesostasks (show) reads them,
// through the aggregated API, which becomes available only once the manager serves it.
func waitForTasksInMemory(ctx context.Context, o options, kubeconfig string, pod *corev1.Pod) {
	if !o.tasksInMemory || kubectl == "" {
		return
	}
	_, _ = servedTaskRow(ctx, kubeconfig, pod)
}

// showTasksAPI shows the pod's MesosTask as the manager serves it, once kube-apiserver
// lists it there; with the MesosTasks in memory, show has shown it already.
func showTasksAPI(ctx context.Context, o options, kubeconfig string, pod *corev1.Pod) {
	if !o.tasksAPI || o.tasksInMemory || kubectl == "" {
		return
	}
	args, out := servedTaskRow(ctx, kubeconfig, pod)
	fmt.Printf("\n%s\n%s", commandLine(args), out)
}

// servedTaskRow runs kubectl get on the served MesosTasks until the pod's row is there
// (up to tasksAPIWait): the command's arguments and its last output.
func servedTaskRow(ctx context.Context, kubeconfig string, pod *corev1.Pod) ([]string, []byte) {
	ctx, cancel := context.WithTimeout(ctx, tasksAPIWait)
	defer cancel()
	args := []string{"-n", pod.Namespace, "get", tasksAPIResource}
	out, _ := kubectlUntilRow(ctx, kubeconfig, args, pod.Name, time.Second)
	return args, out
}
