package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// showPod prints why a pod is not running or not ready, as far as its status says: its
// phase and reason, its conditions that are not True, and each container's state and
// how its last instance ended (e.g. httpd exiting at once because its port is taken).
func showPod(p *corev1.Pod) {
	if lines := podDiagnosis(p); len(lines) > 0 {
		fmt.Println()
		for _, l := range lines {
			fmt.Println("  " + l)
		}
	}
}

// podDiagnosis is what showPod prints, a line each; nothing for a pod never read.
func podDiagnosis(p *corev1.Pod) []string {
	if p == nil || p.Name == "" {
		return nil
	}
	lines := []string{fmt.Sprintf("pod %s/%s: %s", p.Namespace, p.Name, joinNonEmpty(string(p.Status.Phase), p.Status.Reason, p.Status.Message))}
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			lines = append(lines, fmt.Sprintf("  condition %s=%s: %s", c.Type, c.Status, joinNonEmpty(c.Reason, c.Message)))
		}
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		lines = append(lines, fmt.Sprintf("  container %s: %s (restarts: %d)", cs.Name, containerState(cs.State), cs.RestartCount))
		if last := containerState(cs.LastTerminationState); last != "" {
			lines = append(lines, fmt.Sprintf("  container %s, last instance: %s", cs.Name, last))
		}
	}
	return lines
}

// containerState says how a container stands, "" when its state is empty.
func containerState(s corev1.ContainerState) string {
	switch {
	case s.Waiting != nil:
		return joinNonEmpty("waiting", s.Waiting.Reason, s.Waiting.Message)
	case s.Running != nil:
		return "running since " + s.Running.StartedAt.Format(time.RFC3339)
	case s.Terminated != nil:
		return joinNonEmpty(fmt.Sprintf("terminated with exit code %d", s.Terminated.ExitCode), s.Terminated.Reason, s.Terminated.Message)
	}
	return ""
}

// joinNonEmpty joins the parts that are not empty: the first, then the others after a
// colon.
func joinNonEmpty(first string, rest ...string) string {
	var more []string
	for _, r := range rest {
		if r = strings.TrimSpace(r); r != "" {
			more = append(more, r)
		}
	}
	if len(more) == 0 {
		return first
	}
	return first + ": " + strings.Join(more, ": ")
}

// showCluster says when the MesosCluster needs attention: Degraded (e.g. reason
// KubeletAPIPortTaken: something else holds the kubelet API's port on loopback, as
// another k8sm-local does) or not Ready, with the condition's reason and message.
func showCluster(c client.Client, mc *mesosv1alpha1.MesosCluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := &mesosv1alpha1.MesosCluster{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(mc), got); err != nil {
		return
	}
	for _, l := range clusterDiagnosis(got) {
		say("%s", l)
	}
}

// clusterDiagnosis is what showCluster says, a line each.
func clusterDiagnosis(mc *mesosv1alpha1.MesosCluster) []string {
	var lines []string
	if d := meta.FindStatusCondition(mc.Status.Conditions, mesosv1alpha1.ConditionDegraded); d != nil && d.Status == metav1.ConditionTrue {
		lines = append(lines, fmt.Sprintf("MesosCluster %q is Degraded: %s", mc.Name, joinNonEmpty(d.Reason, d.Message)))
	}
	if r := meta.FindStatusCondition(mc.Status.Conditions, mesosv1alpha1.ConditionReady); r != nil && r.Status != metav1.ConditionTrue {
		lines = append(lines, fmt.Sprintf("MesosCluster %q is not Ready: %s", mc.Name, joinNonEmpty(r.Reason, r.Message)))
	}
	return lines
}

// countWait bounds waitForCounted: the cluster counts a task some 2 s after its phase
// changed (the reconciler folds the changes of that time into one count).
const countWait = 5 * time.Second

// waitForCounted waits, up to countWait, until the MesosCluster's status counts a running
// task, so that what show prints of it agrees with the pod it shows running.
func waitForCounted(ctx context.Context, c client.Client, mc *mesosv1alpha1.MesosCluster) {
	ctx, cancel := context.WithTimeout(ctx, countWait)
	defer cancel()
	for {
		got := &mesosv1alpha1.MesosCluster{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(mc), got); err == nil && got.Status.Tasks != nil && got.Status.Tasks.Running > 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}
