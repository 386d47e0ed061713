package podtask

import (
	"fmt"
	"math"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

// What a pod may ask of Mesos. Mesos keeps scalar resources as doubles rounded to
// thousandths, the MesosTask keeps gpus as an int32, and a port is 16 bits: a pod asking
// for more is refused with a message (ValidatePod), never wrapped or cut.
const (
	// MaxCPUs is the most cpus a task may ask for: 10^12, whose thousandths (10^15) a
	// double holds exactly, so that Mesos gets exactly the millicores asked for.
	MaxCPUs = 1_000_000_000_000
	// MaxBytes is the most memory and disk a task may ask for: 2^53 bytes (8Pi), which a
	// double holds to the byte, and whose MB Mesos's thousandths hold exactly.
	MaxBytes = 1 << 53
	// MaxGPUs is the most nvidia.com/gpu a task may ask for: MesosTask spec.resources.gpus
	// is an int32.
	MaxGPUs = math.MaxInt32
	// MaxPort is the highest port; ports start at 1.
	MaxPort = 65535
	// MaxGracePeriodSeconds is the longest terminationGracePeriodSeconds a kill policy
	// holds: Mesos's DurationInfo counts nanoseconds in an int64 (some 292 years).
	MaxGracePeriodSeconds = math.MaxInt64 / int64(time.Second)
)

// ReservedLabelPrefix is the prefix of the TaskInfo labels k8sm sets (LabelNamespace,
// LabelName, LabelUID): a pod's task labels (AnnotationTaskLabelPrefix) may not use it,
// so that no pod can pass for another.
const ReservedLabelPrefix = "k8sm.io/"

// quantityLimit is the most a task may ask of one resource, and how a person reads it.
type quantityLimit struct {
	max   resource.Quantity
	human string
}

var limits = map[corev1.ResourceName]quantityLimit{
	corev1.ResourceCPU:              {*resource.NewQuantity(MaxCPUs, resource.DecimalSI), "1T (10^12 cpus, the most whose thousandths Mesos holds exactly)"},
	corev1.ResourceMemory:           {*resource.NewQuantity(MaxBytes, resource.BinarySI), "8Pi (2^53 bytes, the most Mesos holds to the byte)"},
	corev1.ResourceEphemeralStorage: {*resource.NewQuantity(MaxBytes, resource.BinarySI), "8Pi (2^53 bytes, the most Mesos holds to the byte)"},
	ResourceGPU:                     {*resource.NewQuantity(MaxGPUs, resource.DecimalSI), "2147483647 (MesosTask spec.resources.gpus is an int32)"},
}

// taskResourceNames are the resources of a pod that make its task's.
var taskResourceNames = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, ResourceGPU}

// maxDigits is how many digits before the point a quantity may have before it is too
// large for any limit, without comparing it: a Quantity comparison or sum of a value
// written with a huge exponent (1e2000000000) expands it digit by digit.
const maxDigits = 20

// inRange says whether q is within [0, max], and whether it is negative. It never
// expands q: a value of more than maxDigits integer digits is too large as it is.
func inRange(q *resource.Quantity, max *resource.Quantity) (ok, negative bool) {
	if q.Sign() < 0 {
		return false, true
	}
	digits, exp := q.AsCanonicalBytes(nil)
	switch n := len(digits) + int(exp); {
	case n > maxDigits:
		return false, false
	case n < -maxDigits: // a sliver above 0: well below any limit
		return true, false
	}
	return q.Cmp(*max) <= 0, false
}

// bounded is q within [0, the resource's limit]: negative values count as 0, larger
// ones as the limit, so that arithmetic on it never wraps nor expands a huge exponent.
func bounded(q resource.Quantity, name corev1.ResourceName) resource.Quantity {
	lim, known := limits[name]
	if !known {
		return q
	}
	switch ok, negative := inRange(&q, &lim.max); {
	case negative:
		return resource.Quantity{}
	case !ok:
		return lim.max.DeepCopy()
	}
	return q
}

// checkQuantity adds to errs why q, at path, is no amount of name a task may ask for.
func checkQuantity(errs field.ErrorList, path *field.Path, name corev1.ResourceName, q *resource.Quantity) field.ErrorList {
	lim, known := limits[name]
	if !known {
		return errs
	}
	switch ok, negative := inRange(q, &lim.max); {
	case negative:
		return append(errs, field.Invalid(path, q.String(), "must not be negative"))
	case !ok:
		return append(errs, field.Invalid(path, q.String(), "more than a Mesos task can ask for: at most "+lim.human))
	}
	return errs
}

// checkList checks the task resources of a resource list.
func checkList(errs field.ErrorList, path *field.Path, list corev1.ResourceList) field.ErrorList {
	for _, name := range taskResourceNames {
		if q, ok := list[name]; ok {
			errs = checkQuantity(errs, path.Key(string(name)), name, &q)
		}
	}
	return errs
}

// checkResources checks every quantity the task's resources are made of, then their
// sums (ResourcesWithDefaults), which each quantity within its limit keeps cheap.
func checkResources(pod *corev1.Pod) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	eachContainer(pod, func(path *field.Path, c *corev1.Container) {
		res := path.Child("resources")
		errs = checkList(errs, res.Child("requests"), c.Resources.Requests)
		errs = checkList(errs, res.Child("limits"), c.Resources.Limits)
	})
	if pr := pod.Spec.Resources; pr != nil {
		errs = checkList(errs, spec.Child("resources", "requests"), pr.Requests)
		errs = checkList(errs, spec.Child("resources", "limits"), pr.Limits)
	}
	errs = checkList(errs, spec.Child("overhead"), pod.Spec.Overhead)
	if len(errs) > 0 {
		return errs
	}
	for _, name := range taskResourceNames {
		sum := podRequest(pod, name)
		if lim := limits[name]; sum.Cmp(lim.max) > 0 {
			errs = append(errs, field.Invalid(spec, sum.String(), fmt.Sprintf("the pod's %s adds up to more than a Mesos task can ask for: at most %s", name, lim.human)))
		}
	}
	return errs
}

// checkPorts checks the ports of every container: a hostPort is 0 (none) or a port,
// a containerPort a port.
func checkPorts(pod *corev1.Pod) field.ErrorList {
	var errs field.ErrorList
	eachContainer(pod, func(cpath *field.Path, c *corev1.Container) {
		for j, p := range c.Ports {
			path := cpath.Child("ports").Index(j)
			if p.HostPort < 0 || p.HostPort > MaxPort {
				errs = append(errs, field.Invalid(path.Child("hostPort"), p.HostPort, fmt.Sprintf("must be between 1 and %d, or 0 for none", MaxPort)))
			}
			if p.ContainerPort < 1 || p.ContainerPort > MaxPort {
				errs = append(errs, field.Invalid(path.Child("containerPort"), p.ContainerPort, fmt.Sprintf("must be between 1 and %d", MaxPort)))
			}
		}
	})
	return errs
}

// eachContainer calls f with each init container and container of a pod and its path.
func eachContainer(pod *corev1.Pod, f func(path *field.Path, c *corev1.Container)) {
	spec := field.NewPath("spec")
	for i := range pod.Spec.InitContainers {
		f(spec.Child("initContainers").Index(i), &pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		f(spec.Child("containers").Index(i), &pod.Spec.Containers[i])
	}
}

// taskLabelKey is the task label an annotation asks for, if it asks for one.
func taskLabelKey(annotation string) (string, bool) {
	return strings.CutPrefix(annotation, AnnotationTaskLabelPrefix)
}

// reservedLabel says whether a task label key is k8sm's own.
func reservedLabel(key string) bool {
	return strings.HasPrefix(key, ReservedLabelPrefix)
}

// checkTaskLabels refuses task labels that are empty or k8sm's own.
func checkTaskLabels(pod *corev1.Pod) field.ErrorList {
	var errs field.ErrorList
	for k := range pod.Annotations {
		key, ok := taskLabelKey(k)
		switch {
		case !ok:
		case key == "":
			errs = append(errs, field.Invalid(field.NewPath("metadata", "annotations").Key(k), key, "names no task label"))
		case reservedLabel(key):
			errs = append(errs, field.Invalid(field.NewPath("metadata", "annotations").Key(k), key,
				"task labels under "+ReservedLabelPrefix+" are k8sm's own (they name the pod a task runs); choose another key"))
		}
	}
	return errs
}

// checkGracePeriod checks that the grace period fits Mesos's kill policy.
func checkGracePeriod(pod *corev1.Pod) field.ErrorList {
	g := pod.Spec.TerminationGracePeriodSeconds
	if g == nil || (*g >= 0 && *g <= MaxGracePeriodSeconds) {
		return nil
	}
	return field.ErrorList{field.Invalid(field.NewPath("spec", "terminationGracePeriodSeconds"), *g,
		fmt.Sprintf("must be between 0 and %d seconds, the most a Mesos kill policy holds", MaxGracePeriodSeconds))}
}

// ValidatePod says why a pod cannot be a Mesos task, naming each field: a resource
// quantity that is negative or more than Mesos can be asked for (MaxCPUs, MaxBytes,
// MaxGPUs, alone or added up), a port outside 1-65535, a grace period a kill policy
// cannot hold, or a task label that would pass for one of k8sm's (ReservedLabelPrefix).
// nil means BuildTaskInfo takes the pod.
func ValidatePod(pod *corev1.Pod) error {
	var errs field.ErrorList
	errs = append(errs, checkResources(pod)...)
	errs = append(errs, checkPorts(pod)...)
	errs = append(errs, checkGracePeriod(pod)...)
	errs = append(errs, checkTaskLabels(pod)...)
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("the pod cannot run as a Mesos task: %w", errs.ToAggregate())
}

// TaskResourcesFor is TaskResourcesWithDefaults with the package defaults.
func TaskResourcesFor(pod *corev1.Pod) (mesosv1alpha1.TaskResources, error) {
	return TaskResourcesWithDefaults(pod, Defaults{CPU: DefaultCPU, Memory: DefaultMemory})
}

// TaskResourcesWithDefaults is ResourcesWithDefaults for a pod ValidatePod takes, and
// ValidatePod's error for one it does not: the pod then fails (SetPodInvalid) instead of
// getting a MesosTask.
func TaskResourcesWithDefaults(pod *corev1.Pod, defaults Defaults) (mesosv1alpha1.TaskResources, error) {
	if err := ValidatePod(pod); err != nil {
		return mesosv1alpha1.TaskResources{}, err
	}
	return ResourcesWithDefaults(pod, defaults), nil
}

// SetPodInvalid fails a pod that cannot be a Mesos task, with the reason and message
// SetInvalid gives its MesosTask.
func SetPodInvalid(ps *corev1.PodStatus, err error) {
	ps.Phase, ps.Reason, ps.Message = corev1.PodFailed, ReasonInvalidPod, Clamp(err.Error(), MaxMessageLength)
}
