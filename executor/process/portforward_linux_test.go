package process

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/k8sm/k8sm/executor/process/cgroup"
)

// envEcho makes a copy of the test binary a TCP server on <envEchoHost, 127.0.0.1 by
// default>:<its value> that answers each line with "echo: " and the line (echoServer);
// with envEchoSetsid it first leaves its process group for a session of its own, as a
// daemon does.
const (
	envEcho       = "K8SM_TEST_ECHO_PORT"
	envEchoHost   = "K8SM_TEST_ECHO_HOST"
	envEchoSetsid = "K8SM_TEST_ECHO_SETSID"
)

func init() { testModes[envEcho] = echoServer }

func echoServer() int {
	if os.Getenv(envEchoSetsid) != "" {
		if _, err := syscall.Setsid(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	host := os.Getenv(envEchoHost)
	if host == "" {
		host = "127.0.0.1"
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, os.Getenv(envEcho)))
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

func freePort(t *testing.T, host string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// hasIPv6Loopback says whether ::1 can be listened on here.
func hasIPv6Loopback() bool {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// forwardLine sends a line through a port-forward to the pod's port and returns the
// answer, and what PortForward returned once the client closed, else the client's
// error.
func forwardLine(t *testing.T, rt *Runtime, pod string, port int) (string, error) {
	t.Helper()
	client, server := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- rt.PortForward(context.Background(), "ns", pod, int32(port), server) }()
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	var line string
	var err error
	if _, err = io.WriteString(client, "ping\n"); err == nil {
		line, err = bufio.NewReader(client).ReadString('\n')
	}
	_ = client.Close()
	select {
	case ferr := <-done:
		if ferr != nil {
			err = ferr
		}
	case <-time.After(10 * time.Second):
		t.Fatal("PortForward did not end with its client")
	}
	return line, err
}

func noCgroups() (*cgroup.Manager, error) { return nil, errors.New("no cgroups here") }

// Port-forward reaches a port a process of the pod listens on, declared or not, both
// ways, on IPv4 or IPv6 loopback, whether the process is the container's own or a
// daemon of it found by its cgroup or, without one, by its cookie; and ends when the
// client closes. Meanwhile a port of the agent that is not the pod's, and another
// pod's port, are refused.
func TestPortForwardReachesTheContainersPort(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rt     *Runtime
		host   string
		daemon bool
		// child, instead of a daemon, stays in the container's process group but drops
		// its cookie.
		child bool
	}{
		{name: "the container's process on IPv4 loopback", rt: &Runtime{}, host: "127.0.0.1"},
		{name: "the container's process on IPv6 loopback", rt: &Runtime{}, host: "::1"},
		{name: "a daemon of the container, in its cgroup where the agent gives one", rt: &Runtime{}, host: "127.0.0.1", daemon: true},
		{name: "a daemon of the container, without cgroups: by its cookie", rt: &Runtime{detect: noCgroups}, host: "127.0.0.1", daemon: true},
		{name: "a child of the container without its cookie, without cgroups: by its process group", rt: &Runtime{detect: noCgroups}, host: "127.0.0.1", child: true},
		{name: "the container's process, without cgroups", rt: &Runtime{detect: noCgroups}, host: "::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.host == "::1" && !hasIPv6Loopback() {
				t.Skip("no IPv6 loopback here")
			}
			port := freePort(t, tc.host)
			p := shPod(corev1.RestartPolicyNever, "")
			bin := copyTestBinary(t)
			p.Spec.Containers[0].Command = []string{bin}
			env := []corev1.EnvVar{{Name: envEcho, Value: strconv.Itoa(port)}, {Name: envEchoHost, Value: tc.host}}
			switch {
			case tc.daemon:
				p.Spec.Containers[0].Command = []string{"sh", "-c", `"$0" & wait`, bin}
				env = append(env, corev1.EnvVar{Name: envEchoSetsid, Value: "1"})
			case tc.child:
				p.Spec.Containers[0].Command = []string{"sh", "-c", `env -u ` + EnvCookie + ` "$0" & wait`, bin}
			}
			p.Spec.Containers[0].Env = env
			runningPod(t, tc.rt, p)
			eventually(t, "the container listens", func() bool {
				c, err := net.Dial("tcp", net.JoinHostPort(tc.host, strconv.Itoa(port)))
				if err == nil {
					_ = c.Close()
				}
				return err == nil
			})
			if line, err := forwardLine(t, tc.rt, "p", port); line != "echo: ping\n" || err != nil {
				t.Fatalf("through the forward: %q, %v", line, err)
			}

			other := freePort(t, "127.0.0.1")
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(other)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = l.Close() })
			if _, err := forwardLine(t, tc.rt, "p", other); statusCode(err) != http.StatusBadRequest {
				t.Errorf("a port of the agent that is not the pod's: %v, want a 400", err)
			}
			q := shPod(corev1.RestartPolicyNever, "exec sleep 300")
			q.Name = "q"
			startWith(t, tc.rt, q)
			if _, err := forwardLine(t, tc.rt, "q", port); statusCode(err) != http.StatusBadRequest {
				t.Errorf("another pod's port: %v, want a 400", err)
			}
			if _, err := forwardLine(t, tc.rt, "nope", port); statusCode(err) != http.StatusNotFound {
				t.Errorf("an unknown pod: %v, want a 404", err)
			}
		})
	}
}

// The tables are read as the kernel writes them: a socket listening on IPv4 and on
// IPv6 loopback is found, with its inode.
func TestTCPListenersFindsASocket(t *testing.T) {
	hosts := []string{"127.0.0.1"}
	if hasIPv6Loopback() {
		hosts = append(hosts, "::1")
	}
	for _, host := range hosts {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		f, err := l.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		var st syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
		port := l.Addr().(*net.TCPAddr).Port
		ls, err := tcpListeners(uint16(port))
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) != 1 || !ls[0].ip.Equal(net.ParseIP(host)) || ls[0].inode != st.Ino {
			t.Errorf("listeners on %s:%d = %+v, want one, inode %d", host, port, ls, st.Ino)
		}
	}
}
