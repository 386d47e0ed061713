package scheduler

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
	"github.com/k8sm/k8sm/internal/agentmsg"
	"github.com/k8sm/k8sm/internal/framework"
)

func helloFrom(t *testing.T, s *Scheduler, sent *sentMessages, agentID string) {
	t.Helper()
	sayHello(t, s, sent, agentID, &agentmsg.Hello{})
}

func sayHello(t *testing.T, s *Scheduler, sent *sentMessages, agentID string, hello *agentmsg.Hello) {
	t.Helper()
	agents := map[string]framework.Agent{"a1": {ID: "a1", Hostname: "h1"}, "a2": {ID: "a2", Hostname: "127.0.0.1", Port: 5052}}
	req, err := agentmsg.Encode(&agentmsg.Message{Kind: agentmsg.KindHello, ID: "h-" + agentID, Hello: hello})
	if err != nil {
		t.Fatal(err)
	}
	s.message(context.Background(), sent, agents, agentID, "ex", req)
}

// count waits a second at most for n messages, and returns those sent.
func (m *sentMessages) count(n int) ([]*agentmsg.Message, []string) {
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		m.mu.Lock()
		if len(m.sent) >= n {
			m.mu.Unlock()
			break
		}
		m.mu.Unlock()
	}
	time.Sleep(20 * time.Millisecond) // and nothing more
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*agentmsg.Message(nil), m.sent...), append([]string(nil), m.to...)
}

// An executor's Hello is answered, to that executor and with the Hello's id, with the
// Node of the agent it came from and the cluster's port and client CA bundle.
func TestAHelloIsAnsweredWithTheExecutorsConfig(t *testing.T) {
	const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	cases := []struct {
		name    string
		spec    mesosv1alpha1.KubeletAPISpec
		ca      string
		agent   string
		want    *agentmsg.Config // nil: no answer
		wantOne string           // the executor answered
	}{
		{"the defaults, without a CA", mesosv1alpha1.KubeletAPISpec{}, "", "a1",
			&agentmsg.Config{NodeName: "mesos-c-h1", Port: 10350}, "a1/ex"},
		{"a port and a CA, on an agent that shares its host", mesosv1alpha1.KubeletAPISpec{Port: 10400}, ca, "a2",
			&agentmsg.Config{NodeName: "mesos-c-127.0.0.1-5052", Port: 10400, ClientCA: ca}, "a2/ex"},
		{"serving off", mesosv1alpha1.KubeletAPISpec{Enabled: ptr.To(false), Port: 10400}, ca, "a1",
			&agentmsg.Config{NodeName: "mesos-c-h1", ClientCA: ca}, "a1/ex"},
		{"certificates of the cluster's signer", mesosv1alpha1.KubeletAPISpec{ServingCertificate: mesosv1alpha1.ServingCertificateKubeletServingSigner}, "", "a1",
			&agentmsg.Config{NodeName: "mesos-c-h1", Port: 10350, ServingCertificate: "KubeletServingSigner"}, "a1/ex"},
		{"certificates of the signer, serving off", mesosv1alpha1.KubeletAPISpec{Enabled: ptr.To(false), ServingCertificate: mesosv1alpha1.ServingCertificateKubeletServingSigner}, "", "a1",
			&agentmsg.Config{NodeName: "mesos-c-h1"}, "a1/ex"},
		{"self-signed certificates", mesosv1alpha1.KubeletAPISpec{ServingCertificate: mesosv1alpha1.ServingCertificateSelfSigned}, "", "a1",
			&agentmsg.Config{NodeName: "mesos-c-h1", Port: 10350}, "a1/ex"},
		{"an agent the framework does not know", mesosv1alpha1.KubeletAPISpec{}, ca, "a9", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newTestScheduler(fakeAPI(t), newFakeDriver())
			mc := s.cluster.DeepCopy()
			mc.Spec.KubeletAPI = tc.spec
			s.SetCluster(mc)
			s.SetKubeletClientCA([]byte(tc.ca))
			sent := &sentMessages{}

			helloFrom(t, s, sent, tc.agent)

			msgs, to := sent.count(1)
			if tc.want == nil {
				if len(msgs) != 0 {
					t.Fatalf("answered %+v", msgs[0])
				}
				return
			}
			if len(msgs) != 1 || to[0] != tc.wantOne || msgs[0].Kind != agentmsg.KindConfig || msgs[0].ID != "h-"+tc.agent {
				t.Fatalf("sent %v to %v, want one Config to %s", msgs, to, tc.wantOne)
			}
			if got := *msgs[0].Config; got != *tc.want {
				t.Errorf("Config %+v, want %+v", got, *tc.want)
			}
		})
	}
}

// A change of the CA bundle or of the port reaches the executors that said Hello at
// once, each with its own Node; the same settings again send nothing.
func TestAChangedConfigIsSentToTheExecutorsUnasked(t *testing.T) {
	s, _ := newTestScheduler(fakeAPI(t), newFakeDriver())
	sent := &sentMessages{}
	helloFrom(t, s, sent, "a1")
	helloFrom(t, s, sent, "a2")
	if msgs, _ := sent.count(2); len(msgs) != 2 {
		t.Fatalf("%d answers to two Hellos", len(msgs))
	}

	s.SetCluster(s.cluster.DeepCopy())
	s.SetKubeletClientCA(nil)
	if msgs, _ := sent.count(3); len(msgs) != 2 {
		t.Fatalf("the same settings were sent again: %+v", msgs[2:])
	}

	s.SetKubeletClientCA([]byte("new CA"))
	msgs, to := sent.count(4)
	if len(msgs) != 4 {
		t.Fatalf("%d messages, want the new CA sent to both executors", len(msgs))
	}
	nodes := map[string]string{}
	for i, m := range msgs[2:] {
		if m.Kind != agentmsg.KindConfig || m.Config.ClientCA != "new CA" {
			t.Fatalf("pushed %+v", m)
		}
		nodes[to[2+i]] = m.Config.NodeName
	}
	if nodes["a1/ex"] != "mesos-c-h1" || nodes["a2/ex"] != "mesos-c-127.0.0.1-5052" {
		t.Errorf("pushed Nodes %v", nodes)
	}

	mc := s.cluster.DeepCopy()
	mc.Spec.KubeletAPI.Port = 10400
	s.SetCluster(mc)
	if msgs, _ := sent.count(6); len(msgs) != 6 || msgs[4].Config.Port != 10400 || msgs[5].Config.Port != 10400 {
		t.Fatalf("the new port was not sent to both executors: %d messages", len(msgs))
	}

	mc = s.cluster.DeepCopy()
	mc.Spec.KubeletAPI.ServingCertificate = mesosv1alpha1.ServingCertificateKubeletServingSigner
	s.SetCluster(mc)
	if msgs, _ := sent.count(8); len(msgs) != 8 || msgs[6].Config.ServingCertificate != "KubeletServingSigner" || msgs[7].Config.ServingCertificate != "KubeletServingSigner" {
		t.Fatalf("the serving certificate's new source was not sent to both executors: %d messages", len(msgs))
	}
}

// gatedMessages holds the first message sent until the gate opens, as a slow first send.
type gatedMessages struct {
	sentMessages
	gate    chan struct{}
	entered chan struct{}
	first   sync.Once
}

func (g *gatedMessages) SendMessage(ctx context.Context, agentID, executorID string, data []byte) error {
	held := false
	g.first.Do(func() { held = true })
	if held {
		close(g.entered)
		<-g.gate
	}
	return g.sentMessages.SendMessage(ctx, agentID, executorID, data)
}

// A client CA bundle set while the answer to an executor's first Hello is still on its
// way reaches the executor last: the Configs an executor is sent go one at a time, each
// as the cluster stands when it goes, so the older one cannot overtake the newer.
func TestAConfigChangedDuringAHelloAnswerArrivesLast(t *testing.T) {
	s, _ := newTestScheduler(fakeAPI(t), newFakeDriver())
	sent := &gatedMessages{gate: make(chan struct{}), entered: make(chan struct{})}
	agents := map[string]framework.Agent{"a1": {ID: "a1", Hostname: "h1"}}
	req, err := agentmsg.Encode(&agentmsg.Message{Kind: agentmsg.KindHello, ID: "h-a1", Hello: &agentmsg.Hello{}})
	if err != nil {
		t.Fatal(err)
	}
	s.message(context.Background(), sent, agents, "a1", "ex", req)
	<-sent.entered // the answer, without a CA, is being sent

	s.SetKubeletClientCA([]byte("the CA"))
	sent.count(1) // the push may go out now: it must not
	close(sent.gate)

	msgs, _ := sent.count(2)
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want the answer and the push", len(msgs))
	}
	if last := msgs[len(msgs)-1]; last.Kind != agentmsg.KindConfig || last.Config.ClientCA != "the CA" {
		t.Fatalf("the executor was sent last %+v, want the Config with the CA", last.Config)
	}
}

// An executor whose kubelet API port another process holds says so in its Hellos: the
// manager records a Warning on the Node (once per warnEvery while it lasts, however
// often the executor says Hello), a Normal event when it serves again, and a Warning at
// once if the port is taken again. The Hellos are answered all along.
func TestAKubeletAPIPortTakenIsRecordedOnTheNode(t *testing.T) {
	s, rec := newTestScheduler(fakeAPI(t), newFakeDriver())
	var wakes atomic.Int32
	s.Wake = func() { wakes.Add(1) }
	taken := &agentmsg.Hello{PortTaken: &agentmsg.PortTaken{Address: "10.0.0.7:10350", Error: "listen tcp 10.0.0.7:10350: bind: address already in use"}}
	steps := []struct {
		name  string
		hello *agentmsg.Hello
		want  string // the event's start; empty: none
		wakes int32  // the cluster's status made again, so far
	}{
		{"serving from the start", &agentmsg.Hello{Port: 10350}, "", 1},
		{"the port taken", taken, "Warning KubeletAPIPortTaken", 2},
		{"still taken", taken, "", 2},
		{"served again", &agentmsg.Hello{Port: 10350}, "Normal KubeletAPIServing", 3},
		{"still served", &agentmsg.Hello{Port: 10350}, "", 3},
		{"taken again", taken, "Warning KubeletAPIPortTaken", 4},
	}
	for _, st := range steps {
		sent := &sentMessages{}
		sayHello(t, s, sent, "a1", st.hello)
		if msgs, _ := sent.count(1); len(msgs) != 1 || msgs[0].Kind != agentmsg.KindConfig {
			t.Fatalf("%s: sent %v, want the Config", st.name, msgs)
		}
		if n := wakes.Load(); n != st.wakes {
			t.Errorf("%s: the cluster's status was made again %d times, want %d", st.name, n, st.wakes)
		}
		var wantNodes []string
		if st.hello.PortTaken != nil {
			wantNodes = []string{"mesos-c-h1"}
		}
		if got := s.KubeletAPIPortTaken(); !slices.Equal(got, wantNodes) {
			t.Errorf("%s: Nodes whose port is taken %v, want %v", st.name, got, wantNodes)
		}
		ev := drain(rec)
		if st.want == "" {
			if len(ev) != 0 {
				t.Errorf("%s: events %v, want none", st.name, ev)
			}
			continue
		}
		if len(ev) != 1 || !strings.HasPrefix(ev[0], st.want) {
			t.Fatalf("%s: events %v, want one %s", st.name, ev, st.want)
		}
		if st.hello.PortTaken != nil {
			for _, w := range []string{"10.0.0.7:10350", "address already in use", "spec.kubeletAPI.port", "MesosCluster c"} {
				if !strings.Contains(ev[0], w) {
					t.Errorf("%s: the event %q does not say %q", st.name, ev[0], w)
				}
			}
		}
	}
}

// helloOf says Hello as executor ex of agent agentID, and waits for its answer.
func helloOf(t *testing.T, s *Scheduler, agentID, ex string, hello *agentmsg.Hello) {
	t.Helper()
	agents := map[string]framework.Agent{"a1": {ID: "a1", Hostname: "h1"}, "a2": {ID: "a2", Hostname: "h2"}}
	req, err := agentmsg.Encode(&agentmsg.Message{Kind: agentmsg.KindHello, ID: "h", Hello: hello})
	if err != nil {
		t.Fatal(err)
	}
	sent := &sentMessages{}
	s.message(context.Background(), sent, agents, agentID, ex, req)
	if msgs, _ := sent.count(1); len(msgs) != 1 {
		t.Fatalf("%d answers to a Hello", len(msgs))
	}
}

// KubeletAPIHeard says, by agent, which port its executors said lately that they serve:
// the cluster's port while one of them serves it, 0 when none does (none serves yet, the
// port is taken, or they serve the port the cluster had before); an agent none of whose
// executors said Hello within KubeletAPIHeardFor is not there. Each change wakes the
// cluster's reconcilers, which advertise the port on the Node.
func TestKubeletAPIHeardSaysWhatTheAgentsExecutorsServe(t *testing.T) {
	s, _ := newTestScheduler(fakeAPI(t), newFakeDriver())
	var wakes atomic.Int32
	s.Wake = func() { wakes.Add(1) }
	taken := &agentmsg.Hello{PortTaken: &agentmsg.PortTaken{Address: "10.0.0.7:10350", Error: "bind: address already in use"}}
	steps := []struct {
		name      string
		agent, ex string
		hello     *agentmsg.Hello
		cluster   int32 // the cluster's port from this step on; 0: as it was
		age       time.Duration
		want      map[string]int32
		wakes     int32
	}{
		{name: "none heard", want: map[string]int32{}},
		{name: "a Hello before the executor serves", agent: "a1", ex: "ex", hello: &agentmsg.Hello{}, want: map[string]int32{"a1": 0}, wakes: 1},
		{name: "serving", agent: "a1", ex: "ex", hello: &agentmsg.Hello{Port: 10350}, want: map[string]int32{"a1": 10350}, wakes: 2},
		{name: "still serving", agent: "a1", ex: "ex", hello: &agentmsg.Hello{Port: 10350}, want: map[string]int32{"a1": 10350}, wakes: 2},
		{name: "the port taken on another agent", agent: "a2", ex: "ex", hello: taken, want: map[string]int32{"a1": 10350, "a2": 0}, wakes: 3},
		{name: "a new executor beside the one serving", agent: "a1", ex: "ex2", hello: &agentmsg.Hello{}, want: map[string]int32{"a1": 10350, "a2": 0}, wakes: 4},
		{name: "the old one serves no more", agent: "a1", ex: "ex", hello: &agentmsg.Hello{}, want: map[string]int32{"a1": 0, "a2": 0}, wakes: 5},
		{name: "the new one serves", agent: "a1", ex: "ex2", hello: &agentmsg.Hello{Port: 10350}, want: map[string]int32{"a1": 10350, "a2": 0}, wakes: 6},
		{name: "the cluster's port changed", cluster: 10400, want: map[string]int32{"a1": 0, "a2": 0}, wakes: 6},
		{name: "served on the new port", agent: "a1", ex: "ex2", hello: &agentmsg.Hello{Port: 10400}, want: map[string]int32{"a1": 10400, "a2": 0}, wakes: 7},
		{name: "not heard from lately", age: KubeletAPIHeardFor + time.Second, want: map[string]int32{}, wakes: 7},
	}
	for _, st := range steps {
		if st.cluster != 0 {
			mc := s.cluster.DeepCopy()
			mc.Spec.KubeletAPI.Port = st.cluster
			s.SetCluster(mc)
		}
		if st.hello != nil {
			helloOf(t, s, st.agent, st.ex, st.hello)
		}
		if st.age != 0 {
			s.mu.Lock()
			for k, h := range s.kubelet.executors {
				h.seen = time.Now().Add(-st.age)
				s.kubelet.executors[k] = h
			}
			s.mu.Unlock()
		}
		if got := s.KubeletAPIHeard(); !maps.Equal(got, st.want) {
			t.Errorf("%s: heard %v, want %v", st.name, got, st.want)
		}
		if n := wakes.Load(); n != st.wakes {
			t.Errorf("%s: woken %d times, want %d", st.name, n, st.wakes)
		}
	}
}

// An executor Mesos reports ended no longer serves its agent's kubelet API port: the
// agent's Node stops advertising it at once, not once its last Hello is old.
func TestAnEndedExecutorServesTheKubeletAPINoMore(t *testing.T) {
	s, _ := newTestScheduler(fakeAPI(t), newFakeDriver())
	var wakes atomic.Int32
	s.Wake = func() { wakes.Add(1) }
	helloOf(t, s, "a1", "ex", &agentmsg.Hello{Port: 10350})
	helloOf(t, s, "a2", "ex", &agentmsg.Hello{Port: 10350})
	before := wakes.Load()

	s.ExecutorEnded(context.Background(), "a1", "ex")
	if got, want := s.KubeletAPIHeard(), map[string]int32{"a2": 10350}; !maps.Equal(got, want) {
		t.Errorf("heard %v after a1's executor ended, want %v", got, want)
	}
	if wakes.Load() != before+1 {
		t.Error("the agent Nodes were not made again")
	}
	s.ExecutorEnded(context.Background(), "a3", "ex") // unknown: nothing to do
	if wakes.Load() != before+1 {
		t.Error("woken for an executor that never said Hello")
	}
}
