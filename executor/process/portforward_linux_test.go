package process

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// envEcho makes a copy of the test binary a TCP server on 127.0.0.1:<its value> that
// answers each line with "echo: " and the line (echoServer).
const envEcho = "K8SM_TEST_ECHO_PORT"

func init() { testModes[envEcho] = echoServer }

func echoServer() int {
	l, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv(envEcho))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for {
		conn, err := l.Accept()
		if err != nil {
			return 1
		}
		go func() {
			defer func() { _ = conn.Close() }()
			s := bufio.NewScanner(conn)
			for s.Scan() {
				_, _ = fmt.Fprintf(conn, "echo: %s\n", s.Text())
			}
		}()
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// Port-forward reaches a port a container listens on, on the agent's loopback, declared
// or not, both ways, and ends when the client closes.
func TestPortForwardReachesTheContainersPort(t *testing.T) {
	port := freePort(t)
	p := shPod(corev1.RestartPolicyNever, "")
	p.Spec.Containers[0].Command = []string{copyTestBinary(t)}
	p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: envEcho, Value: strconv.Itoa(port)}}
	rt := &Runtime{}
	runningPod(t, rt, p)
	eventually(t, "the container listens", func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
	client, server := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- rt.PortForward(context.Background(), "ns", "p", int32(port), server) }()
	if _, err := io.WriteString(client, "ping\n"); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := bufio.NewReader(client).ReadString('\n'); line != "echo: ping\n" || err != nil {
		t.Fatalf("through the forward: %q, %v", line, err)
	}
	_ = client.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("PortForward: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("PortForward did not end with its client")
	}
	if err := rt.PortForward(context.Background(), "ns", "nope", int32(port), server); statusCode(err) != 404 {
		t.Errorf("an unknown pod: %v, want a 404", err)
	}
}
