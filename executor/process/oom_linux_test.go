package process

import (
	"os"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Under memory pressure the kernel kills the process of highest oom_score_adj first:
// a BestEffort container has the kubelet's 1000, a Burstable one its share-based score,
// and a Guaranteed one keeps the executor's own, never below it (its -997 would have
// the executor, whose end ends every pod, killed before it).
func TestContainersGetTheKubeletsOOMScoreAboveTheExecutors(t *testing.T) {
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		t.Skip(err)
	}
	own, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if own >= 999 {
		t.Skipf("the executor's own oom_score_adj is %d: nothing to raise", own)
	}
	mem := func(req, lim string) corev1.ResourceRequirements {
		r := corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse(req)}}
		if lim != "" {
			r.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse(lim)}
		}
		return r
	}
	for _, tc := range []struct {
		name string
		res  corev1.ResourceRequirements
		want int
	}{
		{"BestEffort", corev1.ResourceRequirements{}, 1000},
		{"Burstable, a sliver of the agent", mem("1Ki", ""), 999},
		{"Guaranteed", mem("64Mi", "64Mi"), own},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := shPod(corev1.RestartPolicyNever, "cat /proc/self/oom_score_adj")
			p.Spec.Containers[0].Resources = tc.res
			_, rec, dir := startWith(t, &Runtime{}, p)
			rec.until(t, "the pod ends", ended)
			if got := strings.TrimSpace(output(dir, "c0", corev1.LogStreamStdout)); got != strconv.Itoa(tc.want) {
				t.Errorf("the container's oom_score_adj is %q, want %d", got, tc.want)
			}
		})
	}
}
