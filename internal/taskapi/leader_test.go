package taskapi

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/k8sm/k8sm/internal/testenv"
)

func TestTheLeaderAloneCarriesTheLeaderLabel(t *testing.T) {
	pod := func(ns, name string, labels map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}}
	}
	leader := map[string]string{LeaderLabelKey: "true", "app": "k8sm"}
	for _, tc := range []struct {
		name string
		pods []*corev1.Pod
	}{
		{"no pod labeled yet", []*corev1.Pod{pod("sys", "a", nil), pod("sys", "b", nil)}},
		{"the leader before still labeled", []*corev1.Pod{pod("sys", "a", nil), pod("sys", "b", leader)}},
		{"already labeled", []*corev1.Pod{pod("sys", "a", leader), pod("sys", "b", nil)}},
		{"both labeled", []*corev1.Pod{pod("sys", "a", leader), pod("sys", "b", leader)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fake.NewClientBuilder()
			for _, p := range tc.pods {
				b = b.WithObjects(p)
			}
			// Another namespace's pod with the label is not the manager's: left alone.
			c := b.WithObjects(pod("elsewhere", "x", leader)).Build()
			l := &LeaderLabel{Client: c, Reader: c, Namespace: "sys", Pod: "a", Log: logr.Discard()}
			ctx := context.Background()
			for range 2 { // and again: nothing changes
				if err := l.Sync(ctx); err != nil {
					t.Fatal(err)
				}
				for ns, want := range map[string]map[string]bool{"sys": {"a": true, "b": false}, "elsewhere": {"x": true}} {
					for name, labeled := range want {
						got := &corev1.Pod{}
						if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, got); err != nil {
							t.Fatal(err)
						}
						if (got.Labels[LeaderLabelKey] == "true") != labeled {
							t.Errorf("%s/%s labels %v, labeled as leader: want %v", ns, name, got.Labels, labeled)
						}
					}
				}
			}
			var all corev1.PodList
			if err := c.List(ctx, &all, client.InNamespace("sys"), client.MatchingLabels{"app": "k8sm"}); err != nil {
				t.Fatal(err)
			}
			for _, p := range all.Items {
				if p.Labels["app"] != "k8sm" {
					t.Errorf("%s lost its other labels: %v", p.Name, p.Labels)
				}
			}
		})
	}
}

func TestLeaderPodsFindsTheLeadersAddress(t *testing.T) {
	if testenv.TasksAPIPortName != TasksAPIPortName {
		t.Fatalf("the tests' replica pods name the port %q, the manager looks for %q", testenv.TasksAPIPortName, TasksAPIPortName)
	}
	leader := map[string]string{LeaderLabelKey: "true"}
	pod := func(name string, labels map[string]string, ip string, port int32) *corev1.Pod {
		p := replicaPodAt("sys", name, ip, port)
		p.Labels = labels
		return p
	}
	deleting := pod("old", leader, "10.0.0.9", 9443)
	deleting.DeletionTimestamp, deleting.Finalizers = &metav1.Time{Time: time.Now()}, []string{"k8sm.io/test"}
	for _, tc := range []struct {
		name string
		pods []*corev1.Pod
		want string // "" an error
	}{
		{"the leader's pod and port", []*corev1.Pod{pod("self", nil, "10.0.0.1", 9443), pod("lead", leader, "10.0.0.2", 7443)}, "10.0.0.2:7443"},
		{"a pod naming no port: this replica's", []*corev1.Pod{pod("lead", leader, "fd00::2", 0)}, "[fd00::2]:9443"},
		{"no pod labeled", []*corev1.Pod{pod("self", nil, "10.0.0.1", 9443), pod("b", nil, "10.0.0.2", 9443)}, ""},
		{"its own pod labeled", []*corev1.Pod{pod("self", leader, "10.0.0.1", 9443)}, ""},
		{"the leader's pod without an IP yet", []*corev1.Pod{pod("lead", leader, "", 9443)}, ""},
		{"a pod being deleted", []*corev1.Pod{deleting}, ""},
		{"another namespace's", []*corev1.Pod{func() *corev1.Pod { p := pod("lead", leader, "10.0.0.2", 9443); p.Namespace = "x"; return p }()}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fake.NewClientBuilder()
			for _, p := range tc.pods {
				b = b.WithObjects(p)
			}
			l := &LeaderPods{Reader: b.Build(), Namespace: "sys", Self: "self", Port: 9443}
			got, err := l.Address(context.Background())
			if tc.want == "" {
				if err == nil {
					t.Errorf("found %s, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("found %q, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestLeaderPodsKeepsTheAddressAWhile(t *testing.T) {
	leading := func(name, ip string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "sys", Name: name, Labels: map[string]string{LeaderLabelKey: "true"}},
			Status: corev1.PodStatus{PodIP: ip}}
	}
	c := fake.NewClientBuilder().WithObjects(leading("a", "10.0.0.1")).Build()
	now := time.Now()
	l := &LeaderPods{Reader: c, Namespace: "sys", Self: "self", Port: 9443, Now: func() time.Time { return now }}
	ctx := context.Background()
	if got, err := l.Address(ctx); err != nil || got != "10.0.0.1:9443" {
		t.Fatalf("%q %v", got, err)
	}
	// Another replica leads: the address found is kept until it is forgotten or old.
	lead := func(from, to *corev1.Pod) {
		t.Helper()
		if err := c.Delete(ctx, from); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, to); err != nil {
			t.Fatal(err)
		}
	}
	lead(leading("a", ""), leading("b", "10.0.0.2"))
	if got, _ := l.Address(ctx); got != "10.0.0.1:9443" {
		t.Errorf("kept: %q", got)
	}
	l.Forget()
	if got, _ := l.Address(ctx); got != "10.0.0.2:9443" {
		t.Errorf("forgotten: %q", got)
	}
	lead(leading("b", ""), leading("c", "10.0.0.3"))
	now = now.Add(leaderKeptFor)
	if got, _ := l.Address(ctx); got != "10.0.0.3:9443" {
		t.Errorf("after %s: %q", leaderKeptFor, got)
	}
}

// replicaPodAt is a pod of a replica: with ip, and with port named tasks-api (none if 0).
func replicaPodAt(ns, name, ip string, port int32) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Status: corev1.PodStatus{PodIP: ip}}
	p.Spec.Containers = []corev1.Container{{Name: "manager", Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 8443}}}}
	if port != 0 {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: TasksAPIPortName, ContainerPort: port})
	}
	return p
}
