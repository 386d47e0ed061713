package testenv

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// TasksAPIService is the name of the manager's MesosTasks API's Service, as
// config/tasks-api names it (and the manager's --tasks-api-service default).
const TasksAPIService = "k8sm-tasks-api"

// RegisterTasksAPI registers a manager's MesosTasks API with the API server of cfg as
// config/tasks-api does, for a manager serving on loopback at port: its APIService
// (without a CA bundle: the manager sets it), and its Service in namespace (which must
// exist). The Service is an ExternalName one, localhost: envtest runs no kube-proxy to
// reach a cluster IP, and Endpoints refuse loopback addresses. kube-apiserver must have
// been started with the aggregation flags (localmetrics.ConfigureAPIServer). Registered
// again (another manager of the same API server), the APIService is made anew.
func RegisterTasksAPI(ctx context.Context, cfg *rest.Config, namespace string, port int) error {
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	svc := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"namespace": namespace, "name": TasksAPIService},
		"spec":     map[string]any{"type": string(corev1.ServiceTypeExternalName), "externalName": "localhost"}}}
	if _, err := dc.Resource(schema.GroupVersionResource{Version: "v1", Resource: "services"}).Namespace(namespace).
		Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the MesosTasks API's Service: %w", err)
	}
	apiService := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": "v1alpha1.tasks.mesos.k8sm.io"},
		"spec": map[string]any{"group": "tasks.mesos.k8sm.io", "version": "v1alpha1",
			"service":              map[string]any{"namespace": namespace, "name": TasksAPIService, "port": int64(port)},
			"groupPriorityMinimum": int64(900), "versionPriority": int64(100)},
	}}
	apiServices := dc.Resource(schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"})
	_, err = apiServices.Create(ctx, apiService, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Another manager's, at another port and with its CA bundle: made again.
		if err := apiServices.Delete(ctx, apiService.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("registering the MesosTasks API again: %w", err)
		}
		_, err = apiServices.Create(ctx, apiService, metav1.CreateOptions{})
	}
	if err != nil {
		return fmt.Errorf("registering the MesosTasks API: %w", err)
	}
	return nil
}
