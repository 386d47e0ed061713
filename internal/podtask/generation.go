package podtask

import (
	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// WrittenGeneration is the generation a MesosTask has once the write of its status now
// lands. MesosTasks have no status subresource (so that a task's first write carries its
// state), so each write that changes the status counts as a generation, as any change
// to a custom resource without one does; a new MesosTask is generation 1. Every write
// of a MesosTask is optimistic (it carries the version read), so the count is exact.
func WrittenGeneration(mt *mesosv1alpha1.MesosTask) int64 {
	if mt.ResourceVersion == "" {
		return 1
	}
	return mt.Generation + 1
}

// StampGeneration marks a MesosTask's status and conditions as written for the
// generation its write makes (WrittenGeneration): a reader comparing observedGeneration
// with metadata.generation then finds the status current.
func StampGeneration(mt *mesosv1alpha1.MesosTask) {
	gen := WrittenGeneration(mt)
	mt.Status.ObservedGeneration = gen
	for i := range mt.Status.Conditions {
		mt.Status.Conditions[i].ObservedGeneration = gen
	}
}
