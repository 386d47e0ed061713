package agentnode

import (
	"math"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
)

// OutageTaints are the taints kube-controller-manager's node lifecycle controller puts
// on a Node whose Lease and status are not renewed, and on which its taint eviction
// controller evicts the pods that do not tolerate them long enough.
var OutageTaints = []corev1.Taint{
	{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute},
}

// OutageTolerations returns a pod's tolerations changed so that it tolerates the
// OutageTaints for at least minimum, and whether they changed. An agent's Node goes
// NotReady when no manager renews it (every replica down), while Mesos keeps the
// framework's tasks running until the failover timeout: an eviction then would delete a
// running pod, and the returning manager would kill its task.
//
// The taint eviction controller evicts at the shortest tolerationSeconds among the
// tolerations that match a taint, and at once when none matches; so every matching
// toleration shorter than minimum is lengthened to it (the API lets an existing
// toleration's tolerationSeconds change, and tolerations be added), and a taint nothing
// matches gets a toleration of its own. Tolerations without tolerationSeconds (for
// ever) are left alone. A minimum of zero or less changes nothing.
func OutageTolerations(tolerations []corev1.Toleration, minimum time.Duration) ([]corev1.Toleration, bool) {
	if minimum <= 0 {
		return tolerations, false
	}
	secs := int64(math.Ceil(minimum.Seconds()))
	out := tolerations
	changed := false
	for _, taint := range OutageTaints {
		matched := false
		for i := range out {
			if !out[i].ToleratesTaint(logr.Discard(), &taint, false) {
				continue
			}
			matched = true
			if s := out[i].TolerationSeconds; s != nil && *s < secs {
				if !changed {
					out, changed = append([]corev1.Toleration(nil), out...), true
				}
				out[i].TolerationSeconds = &secs
			}
		}
		if !matched {
			if !changed {
				out, changed = append([]corev1.Toleration(nil), out...), true
			}
			out = append(out, corev1.Toleration{Key: taint.Key, Operator: corev1.TolerationOpExists, Effect: taint.Effect, TolerationSeconds: &secs})
		}
	}
	return out, changed
}
