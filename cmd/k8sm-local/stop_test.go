package main

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		line string
		want proc
		ok   bool
	}{
		{"4242 (kube-apiserver) S 100 4242 4242 0 -1 4194560 ...", proc{4242, 100, 4242, 4242}, true},
		// comm may hold spaces and parentheses: the last ')' ends it.
		{"7 (a (b) c) R 1 6 5 0", proc{7, 1, 6, 5}, true},
		{"7 (sh) R 1", proc{}, false},
		{"garbage", proc{}, false},
	} {
		got, ok := parseStat(tc.line)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseStat(%q) = %v, %v; want %v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

// killStarted kills a child in a session of its own, a process it started in the
// background and one that left that session's group; and nothing else.
func TestKillStarted(t *testing.T) {
	bystander := exec.Command("sleep", "60")
	bystander.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bystander.Process.Kill(); _ = bystander.Wait() })

	// The bystander is this process's child too: it is out of reach when killStarted
	// runs in a process of its own, the test binary run again.
	pidFile := t.TempDir() + "/pids"
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillStartedHelper$")
	cmd.Env = append(os.Environ(), "K8SM_LOCAL_KILL_HELPER="+pidFile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		deadline := time.Now().Add(5 * time.Second)
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still runs", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !alive(bystander.Process.Pid) {
		t.Error("the bystander was killed")
	}
}

// TestKillStartedHelper is the process of TestKillStarted that starts the processes and
// kills them.
func TestKillStartedHelper(t *testing.T) {
	pidFile := os.Getenv("K8SM_LOCAL_KILL_HELPER")
	if pidFile == "" {
		t.Skip("run by TestKillStarted")
	}
	// A session leader, with a child in the background and one in a group of its own
	// whose parent exits: it is the session's, with init as its parent.
	cmd := exec.Command("sh", "-c", `sleep 60 & echo $!; sh -c 'set -m; sleep 60 & echo $!' ; exec sleep 60`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pids := []string{strconv.Itoa(cmd.Process.Pid)}
	buf := make([]byte, 0, 64)
	for len(strings.Fields(string(buf))) < 2 {
		chunk := make([]byte, 64)
		n, err := out.Read(chunk)
		if err != nil {
			t.Fatal(err)
		}
		buf = append(buf, chunk[:n]...)
	}
	pids = append(pids, strings.Fields(string(buf))...)
	killStarted()
	_ = cmd.Wait()
	if err := os.WriteFile(pidFile, []byte(strings.Join(pids, " ")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// alive says whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && !strings.HasPrefix(string(b[i+1:]), " Z")
}
