package executor

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
)

// An agent with --authenticate_http_executors gives its executor a token in
// MESOS_EXECUTOR_AUTHENTICATION_TOKEN and answers 401 to any call without it (until its
// executor_registration_timeout destroys the executor). The executor sends it as a bearer
// token on every call, takes it out of its environment, so that no process it starts
// inherits it, and never logs it.
func TestSendsTheAgentsTokenOnEveryCall(t *testing.T) {
	const token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJlaWQiOiJleCJ9.c2lnbmF0dXJl"
	t.Setenv("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", token)
	a := newFakeAgent(t)
	a.token = token
	var mu sync.Mutex
	var logs strings.Builder
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		logs.WriteString(prefix + " " + args + "\n")
	}, funcr.Options{Verbosity: 10})
	e, _ := startExecutorWith(t, a, &Executor{Log: log})

	a.waitSubscription(t, 1)
	a.send(&mexec.Event{Type: mexec.Event_LAUNCH, Launch: &mexec.Event_Launch{Task: podTask(t, "t1")}})
	waitStates(t, a, "t1", mesos.TASK_STARTING, mesos.TASK_RUNNING)
	if err := e.SendMessage(context.Background(), []byte("hello")); err != nil {
		t.Fatalf("MESSAGE: %v", err)
	}
	a.mu.Lock()
	refused, messages := a.unauthorized, len(a.messages)
	a.mu.Unlock()
	if refused != 0 || messages != 1 {
		t.Errorf("%d calls refused for want of the token, %d messages taken; want none refused and 1 message", refused, messages)
	}
	if v, set := os.LookupEnv("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"); set {
		t.Errorf("the token stays in the environment (%d bytes), for every process the executor starts", len(v))
	}
	mu.Lock()
	defer mu.Unlock()
	if logs.Len() == 0 || strings.Contains(logs.String(), token) {
		t.Errorf("the log (%d bytes) is empty or holds the token", logs.Len())
	}
}
