package main

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// kubeletAPIWait bounds the wait for a running pod's Node to advertise the kubelet API.
const kubeletAPIWait = 30 * time.Second

// waitForKubeletAPI waits, at most limit, until the Node of pod advertises the kubelet
// API's port, and says whether it does. An agent's Node advertises it only once the
// executor there says it serves it, which may reach the manager a moment after the pod
// runs: kubectl logs before that would dial the API server's default kubelet port.
func waitForKubeletAPI(ctx context.Context, c client.Client, pod *corev1.Pod, limit time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		p, n := &corev1.Pod{}, &corev1.Node{}
		if c.Get(ctx, client.ObjectKeyFromObject(pod), p) == nil && p.Spec.NodeName != "" &&
			c.Get(ctx, client.ObjectKey{Name: p.Spec.NodeName}, n) == nil && n.Status.DaemonEndpoints.KubeletEndpoint.Port != 0 {
			return true
		}
		select {
		case <-ctx.Done():
			say("The Node of pod %s/%s advertises no kubelet API port after %s: its executor does not serve it (see the Node's events)", pod.Namespace, pod.Name, limit)
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
}
