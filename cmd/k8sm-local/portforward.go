package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/podtask"
)

const (
	// webPod is the pod that kubectl port-forward reaches: busybox's httpd on the
	// agent's loopback, at webPort, serving webGreeting.
	webPod      = "hello-web"
	webPort     = 31080
	webGreeting = "hello from Mesos, through kubectl port-forward"
	// forwardWait bounds the wait for the pod to run and answer through the forward.
	forwardWait = 60 * time.Second
)

// showPortForward runs a pod that serves HTTP on the agent's loopback (busybox's
// httpd: a process-runtime pod runs what the agent has, and nothing in coreutils
// listens), then shows kubectl port-forward to it and an HTTP GET through the forward.
// Without a busybox that has httpd it says what to install.
func showPortForward(ctx context.Context, c client.Client, kubeconfig string, sample *corev1.Pod) {
	if kubectl == "" {
		return
	}
	fmt.Println()
	busybox := busyboxHttpd()
	if busybox == "" {
		fmt.Println("(kubectl port-forward needs a pod that listens: install busybox with httpd and wget (`make test-deps`), and run this again)")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, forwardWait)
	defer cancel()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: sample.Namespace, Name: webPod},
		Spec: corev1.PodSpec{SchedulerName: sample.Spec.SchedulerName, Containers: []corev1.Container{{
			Name: "web", Image: "busybox",
			// httpd changes to its home by its absolute path, which the pod's user (nobody)
			// may not traverse (a home directory of mode 0700 above the sandbox);
			// /proc/self/cwd reaches the container's directory without the walk.
			Command: []string{"sh", "-c", fmt.Sprintf("echo %q > index.html && exec %s httpd -f -p 127.0.0.1:%d -h /proc/self/cwd", webGreeting, busybox, webPort)},
			// A hostPort, as a process-runtime pod that listens needs: Mesos then gives the
			// port to this pod alone on its agent (a containerPort alone reserves nothing).
			Ports: []corev1.ContainerPort{{ContainerPort: webPort, HostPort: webPort}},
			// Ready once httpd answers: a forward to a port that nobody listens on yet
			// ends kubectl port-forward.
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{
				Command: []string{busybox, "wget", "-q", "-O", "/dev/null", fmt.Sprintf("http://127.0.0.1:%d/", webPort)}}},
				PeriodSeconds: 1},
		}}},
	}
	say("Running pod %s/%s (busybox httpd on the agent's 127.0.0.1:%d) for kubectl port-forward", pod.Namespace, pod.Name, webPort)
	if err := c.Create(ctx, pod); err != nil {
		say("Could not create pod %s: %v", webPod, err)
		return
	}
	if err := waitReady(ctx, c, pod); err != nil {
		say("Pod %s was not ready within %.0fs: %v", webPod, forwardWait.Seconds(), err)
		showPod(pod)
		return
	}
	waitForKubeletAPI(ctx, c, pod, kubeletAPIWait)
	local := localPort()
	args := []string{"-n", pod.Namespace, "port-forward", "pod/" + webPod, fmt.Sprintf("%d:%d", local, webPort)}
	fmt.Printf("%s &\n", commandLine(args))
	cmd := kubectlCommand(ctx, kubeconfig, args...)
	out, err := cmd.StdoutPipe()
	if err == nil {
		cmd.Stderr = os.Stdout
		err = cmd.Start()
	}
	if err != nil {
		say("Could not run kubectl port-forward: %v", err)
		return
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		fmt.Println(lines.Text())
		if strings.HasPrefix(lines.Text(), "Forwarding from 127.0.0.1:") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	url := fmt.Sprintf("http://127.0.0.1:%d/", local)
	fmt.Printf("$ curl %s\n", url)
	body, err := getThrough(ctx, url)
	if err != nil {
		say("No answer through the forward within %.0fs: %v", forwardWait.Seconds(), err)
		return
	}
	fmt.Print(body)
}

// busyboxHttpd is a busybox with the httpd and wget applets, "" if none.
func busyboxHttpd() string {
	path, err := exec.LookPath("busybox")
	if err != nil {
		return ""
	}
	out, err := exec.Command(path, "--list").Output()
	list := "\n" + string(out)
	if err != nil || !strings.Contains(list, "\nhttpd\n") || !strings.Contains(list, "\nwget\n") {
		return ""
	}
	return path
}

// waitReady waits until pod is Ready.
func waitReady(ctx context.Context, c client.Client, pod *corev1.Pod) error {
	for {
		if err := c.Get(ctx, client.ObjectKeyFromObject(pod), pod); err == nil && podtask.PodReady(&pod.Status) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// localPort is 8080 when it is free on loopback, else a free port.
func localPort() int {
	for _, addr := range []string{"127.0.0.1:8080", "127.0.0.1:0"} {
		if l, err := net.Listen("tcp", addr); err == nil {
			port := l.Addr().(*net.TCPAddr).Port
			_ = l.Close()
			return port
		}
	}
	return 8080
}

// getThrough returns the body of a GET of url, trying again until ctx ends: httpd may
// not listen yet when its pod is Running.
func getThrough(ctx context.Context, url string) (string, error) {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return "", err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return string(b), nil
			}
			err = fmt.Errorf("%s: %s", resp.Status, strconv.Quote(string(b)))
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
