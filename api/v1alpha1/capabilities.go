package v1alpha1

import "slices"

// CapabilityGPUResources is the capability without which Mesos offers a framework no
// GPUs, and, as masters run by default (--filter_gpu_resources), nothing at all of an
// agent that has them. It is not among the defaults.
const CapabilityGPUResources FrameworkCapability = "GPU_RESOURCES"

// AsksForGPUs says whether the framework asks Mesos for GPU_RESOURCES.
func (f *FrameworkSpec) AsksForGPUs() bool {
	return slices.Contains(f.Capabilities, CapabilityGPUResources)
}
