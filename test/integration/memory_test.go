package integration

import (
	"context"
	"os"

	. "github.com/onsi/ginkgo/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/k8sm/k8sm/internal/taskstore"
)

// The suite runs with the MesosTasks in the manager's memory
// (--mesostask-storage=memory) when K8SM_TEST_MESOSTASK_STORAGE is "memory": the specs
// then read and write MesosTasks where the manager holds them, its Store, as the served
// API answers from it.
var tasksInMemory = os.Getenv("K8SM_TEST_MESOSTASK_STORAGE") == "memory"

// skipInMemory skips a spec of what only a MesosTask written to the API server does, when
// the suite runs with the MesosTasks in memory.
func skipInMemory(why string) {
	if tasksInMemory {
		Skip("with the MesosTasks in memory: " + why)
	}
}

// storeTasks is the specs' client with MesosTasks in the manager's Store: mem for every
// request but watches (taskstore.InMemory passes other kinds on to the API server).
type storeTasks struct {
	client.WithWatch
	mem client.Client
}

func inStore(c client.WithWatch, s *taskstore.Store) client.WithWatch {
	return storeTasks{WithWatch: c, mem: taskstore.InMemory(c, s)}
}

func (c storeTasks) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return c.mem.Get(ctx, key, obj, opts...)
}

func (c storeTasks) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return c.mem.List(ctx, list, opts...)
}

func (c storeTasks) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	return c.mem.Create(ctx, obj, opts...)
}

func (c storeTasks) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	return c.mem.Update(ctx, obj, opts...)
}

func (c storeTasks) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	return c.mem.Patch(ctx, obj, patch, opts...)
}

func (c storeTasks) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	return c.mem.Delete(ctx, obj, opts...)
}

func (c storeTasks) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	return c.mem.DeleteAllOf(ctx, obj, opts...)
}
