package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// peerNode is the name of the i-th Node of the kube-scheduler runs, whose Lease its
// kubelet renews (runKubelets).
func peerNode(i int) string { return fmt.Sprintf("node-%04d", i) }

// runKubeScheduler runs the burst through kube-scheduler on Nodes of their own, alone
// (done once bound) or with what kubelets write for each pod it binds (done once Running).
func runKubeScheduler(ks string, nodes, pods, creators int, timeout time.Duration, kubelets kubeletMode) (result, error) {
	res := result{name: "kube-scheduler (binding to Nodes)", pods: pods}
	res.toBound = kubelets == noKubelets
	switch kubelets {
	case leastWrites:
		res.name = "kube-scheduler + a kubelet's least writes (a pod status write, 3 events; each Node's Lease renewed every 10 s)"
	case asKubelet:
		res.name = "kube-scheduler + a kubelet's requests, as kubelet 1.37 makes them (3 × a GET of the pod and a patch of its status, 3 events; Leases as above)"
	}
	env, kubeconfig, stopEnv, err := startEnv()
	if err != nil {
		return res, err
	}
	defer stopEnv()
	c, err := newClient(env.Config)
	if err != nil {
		return res, err
	}
	ctx := context.Background()
	for i := range nodes {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: peerNode(i), Labels: map[string]string{corev1.LabelHostname: peerNode(i)}}}
		if err := c.Create(ctx, n); err != nil {
			return res, err
		}
		capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("1000")}
		n.Status = corev1.NodeStatus{Capacity: capacity, Allocatable: capacity,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now()}}}
		if err := c.Status().Update(ctx, n); err != nil {
			return res, err
		}
		// The apiserver taints a new Node not-ready until a node lifecycle controller (absent
		// here) clears it: clear it as that controller would for a Ready node.
		n.Spec.Taints = nil
		if err := c.Update(ctx, n); err != nil {
			return res, err
		}
	}
	logFile, err := os.CreateTemp("", "bench-kube-scheduler-*.log")
	if err != nil {
		return res, err
	}
	defer func() { _ = logFile.Close() }()
	cmd := exec.Command(ks, "--kubeconfig="+kubeconfig, "--authentication-kubeconfig="+kubeconfig, "--authorization-kubeconfig="+kubeconfig,
		"--leader-elect=false", "--secure-port=0", "--kube-api-qps=1000", "--kube-api-burst=2000", "-v=0")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	done := isBound
	kubeletCPU := func() time.Duration { return 0 }
	if kubelets != noKubelets {
		k, err := startKubeletProcess(kubeconfig, kubelets, nodes)
		if err != nil {
			return res, err
		}
		defer k.stop()
		done, kubeletCPU = isRunning, func() time.Duration { return procCPU(k.pid()) }
	}
	cpu0, api0, self0, kubelets0 := procCPU(cmd.Process.Pid), readControlPlaneCPU(), procCPU(os.Getpid()), kubeletCPU()
	requests0, _ := apiRequests(ctx, env.Config)
	if kubelets == leastWrites {
		defer startPeerProfile(ctx, env.Config)()
	}
	res.elapsed, res.latencies, _, err = createAndWait(c, pods, creators, func(i int) *corev1.Pod { return burstPod(i, corev1.DefaultSchedulerName) },
		done, func(*corev1.Pod) {}, timeout)
	if err != nil {
		return res, fmt.Errorf("%w (kube-scheduler log: %s)", err, logFile.Name())
	}
	res.cpu, res.apiCPU, res.benchCPU = procCPU(cmd.Process.Pid)-cpu0, readControlPlaneCPU().sub(api0), procCPU(os.Getpid())-self0
	res.kubeletCPU = kubeletCPU() - kubelets0
	if requests1, err := apiRequests(ctx, env.Config); err == nil {
		res.requests = diffCounts(requests0, requests1)
	}
	res.rssKiB = peakRSS(cmd.Process.Pid)
	return res, nil
}
