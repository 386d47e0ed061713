// Package testzk starts a real ZooKeeper server on loopback for tests, from Debian's
// zookeeper package (hack/install-test-deps.sh installs it).
package testzk

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/k8sm/k8sm/internal/testenv"
)

// Jar is where Debian's zookeeper package puts the server.
var Jar = "/usr/share/java/zookeeper.jar"

// ErrNotInstalled says the ZooKeeper server is not on this machine.
var ErrNotInstalled = errors.New("ZooKeeper is not installed (apt-get install zookeeper, or run hack/install-test-deps.sh)")

// Required says whether tests must fail, rather than skip, without ZooKeeper: in CI, or
// when K8SM_REQUIRE_ZOOKEEPER=1.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("K8SM_REQUIRE_ZOOKEEPER") == "1"
}

// Server is a running ZooKeeper.
type Server struct {
	// Addr is host:port of the client port.
	Addr string
	cmd  *exec.Cmd
	dir  string
	done chan struct{}
}

// Installed says whether the ZooKeeper server is on this machine: nil, or ErrNotInstalled.
func Installed() error {
	if _, err := os.Stat(Jar); err != nil {
		return ErrNotInstalled
	}
	if _, err := exec.LookPath("java"); err != nil {
		return fmt.Errorf("%w: java not found", ErrNotInstalled)
	}
	return nil
}

// Start runs a standalone ZooKeeper with its data in a new temporary directory and
// waits until it answers.
func Start() (*Server, error) {
	if _, err := os.Stat(Jar); err != nil {
		return nil, ErrNotInstalled
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, fmt.Errorf("%w: java not found", ErrNotInstalled)
	}
	dir, err := os.MkdirTemp("", "k8sm-zk-")
	if err != nil {
		return nil, err
	}
	port, err := testenv.FreePort()
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf("tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\nmaxSessionTimeout=60000\n",
		filepath.Join(dir, "data"), port)
	if err := os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "zookeeper.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(java, "-Xmx256m", "-cp", Jar,
		"-Dzookeeper.admin.enableServer=false", "-Dzookeeper.4lw.commands.whitelist=ruok,srvr",
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", filepath.Join(dir, "zoo.cfg"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting ZooKeeper: %w", err)
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd, dir: dir, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = log.Close(); close(s.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for !s.ok() {
		select {
		case <-s.done:
			out, _ := os.ReadFile(filepath.Join(dir, "zookeeper.log"))
			return nil, fmt.Errorf("ZooKeeper exited at start: %s", out)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, errors.New("ZooKeeper did not answer within 60s")
		}
	}
	return s, nil
}

// ok asks the server for its state: it serves clients once it has a mode.
func (s *Server) ok() bool {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return false
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("srvr")); err != nil {
		return false
	}
	out, _ := io.ReadAll(c)
	return strings.Contains(string(out), "Mode: ")
}

// Stop kills the server and removes its data.
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	_ = os.RemoveAll(s.dir)
}
