package testenv

import (
	"context"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TasksAPIPortName is the name of the manager container's MesosTasks API port, as
// config/tasks-api names it (taskapi.TasksAPIPortName).
const TasksAPIPortName = "tasks-api"

// ReplicaPod makes the pod of a manager replica in namespace, as the Deployment's would
// be (the restricted Pod Security Standard's security context, which the manager's
// namespace enforces): with addr (host:port), the pod has that IP and names that port
// tasks-api, as the kubelet and config/tasks-api would have it. Outside a cluster the
// manager is told the pod's name (POD_NAME); the leader labels its own, and a standby
// finds the leader's there.
func ReplicaPod(ctx context.Context, c client.Client, namespace, name string, labels map[string]string, addr string) error {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "manager", Image: "k8sm",
			SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), RunAsNonRoot: ptr.To(true),
				Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}}}}}
	if addr == "" {
		return c.Create(ctx, pod)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(port, 10, 32)
	if err != nil {
		return err
	}
	pod.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: TasksAPIPortName, ContainerPort: int32(n)}}
	if err := c.Create(ctx, pod); err != nil {
		return err
	}
	pod.Status.PodIP, pod.Status.PodIPs = host, []corev1.PodIP{{IP: host}}
	return c.Status().Update(ctx, pod)
}
