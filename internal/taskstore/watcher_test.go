package taskstore

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// fakeMetadata hands out the watches the test drives.
type fakeMetadata struct {
	metadata.Getter
	watches chan *watch.FakeWatcher
}

func (f *fakeMetadata) Resource(schema.GroupVersionResource) metadata.Getter { return f }

func (f *fakeMetadata) Watch(context.Context, metav1.ListOptions) (watch.Interface, error) {
	w := watch.NewFakeWithOptions(watch.FakeOptions{ChannelSize: 10})
	f.watches <- w
	return w, nil
}

// eventually polls cond for a while.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("never: %s", what)
}

// A standby watches whole MesosTasks; once it leads, their metadata, from where it was;
// and when the API server no longer has that version it lists again.
func TestWatcherFollowsLeadership(t *testing.T) {
	held := task("a", "p", "k8sm.1", "c1")
	var lists atomic.Int32
	wholeWatches := make(chan *watch.FakeWatcher, 4)
	api := apiClient(t, interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			lists.Add(1)
			return c.List(ctx, list, opts...)
		},
		Watch: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) (watch.Interface, error) {
			w := watch.NewFakeWithOptions(watch.FakeOptions{ChannelSize: 10})
			wholeWatches <- w
			return w, nil
		},
	}, held)
	meta := &fakeMetadata{watches: make(chan *watch.FakeWatcher, 4)}
	elected := make(chan struct{})
	s := New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = (&Watcher{Store: s, Reader: api, Whole: api, Metadata: meta, Elected: elected, Log: logr.Discard()}).Start(ctx)
	}()
	if err := s.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: "a", Name: "p"}
	listed := s.Get(key)
	if listed == nil {
		t.Fatal("the listed MesosTask is not held")
	}

	var whole *watch.FakeWatcher
	select {
	case whole = <-wholeWatches:
	case <-time.After(5 * time.Second):
		t.Fatal("the standby does not watch whole MesosTasks")
	}
	running := listed.DeepCopy()
	running.ResourceVersion, running.Status.Phase = "9999", mesosv1alpha1.TaskPhaseRunning
	whole.Modify(running)
	eventually(t, "the standby holds the leader's write", func() bool {
		return s.Get(key).Status.Phase == mesosv1alpha1.TaskPhaseRunning
	})

	close(elected)
	var metaWatch *watch.FakeWatcher
	select {
	case metaWatch = <-meta.watches:
	case <-time.After(5 * time.Second):
		t.Fatal("the leader does not watch the metadata")
	}
	eventually(t, "the whole watch stopped", whole.IsStopped)
	gone := &metav1.PartialObjectMetadata{ObjectMeta: *s.Get(key).ObjectMeta.DeepCopy()}
	metaWatch.Delete(gone)
	eventually(t, "the deleted MesosTask is gone", func() bool { return s.Get(key) == nil })

	before := lists.Load()
	metaWatch.Error(&apierrors.NewResourceExpired("too old").ErrStatus)
	eventually(t, "a list again", func() bool { return lists.Load() > before })
	eventually(t, "the listed MesosTask held again", func() bool { return s.Get(key) != nil })
}
