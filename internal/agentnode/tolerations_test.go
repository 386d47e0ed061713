package agentnode

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"
)

func TestOutageTolerations(t *testing.T) {
	const week = 7 * 24 * time.Hour
	secs := int64(week / time.Second)
	unreachable := func(s *int64) corev1.Toleration {
		return corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: s}
	}
	notReady := func(s *int64) corev1.Toleration {
		return corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: s}
	}
	other := corev1.Toleration{Key: "mesos.k8sm.io/agent", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	for _, tc := range []struct {
		name    string
		in      []corev1.Toleration
		minimum time.Duration
		want    []corev1.Toleration
		changed bool
	}{
		{"the API server's defaults (300 s) are lengthened", []corev1.Toleration{notReady(ptr.To[int64](300)), unreachable(ptr.To[int64](300))}, week,
			[]corev1.Toleration{notReady(&secs), unreachable(&secs)}, true},
		{"a short toleration of the pod's own is lengthened", []corev1.Toleration{other, unreachable(ptr.To[int64](20)), notReady(nil)}, week,
			[]corev1.Toleration{other, unreachable(&secs), notReady(nil)}, true},
		{"long enough already", []corev1.Toleration{unreachable(&secs), notReady(ptr.To(secs + 1))}, week,
			[]corev1.Toleration{unreachable(&secs), notReady(ptr.To(secs + 1))}, false},
		{"for ever is left alone", []corev1.Toleration{unreachable(nil), notReady(nil)}, week,
			[]corev1.Toleration{unreachable(nil), notReady(nil)}, false},
		{"none: both are added (without, the pod is evicted at once)", nil, week,
			[]corev1.Toleration{unreachable(&secs), notReady(&secs)}, true},
		{"a toleration of every taint counts for both", []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, week,
			[]corev1.Toleration{{Operator: corev1.TolerationOpExists}}, false},
		{"a toleration of every NoExecute taint, shorter, is lengthened", []corev1.Toleration{{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](60)}}, week,
			[]corev1.Toleration{{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs}}, true},
		{"parts of a second round up", []corev1.Toleration{unreachable(ptr.To[int64](1)), notReady(ptr.To[int64](1))}, 1500 * time.Millisecond,
			[]corev1.Toleration{unreachable(ptr.To[int64](2)), notReady(ptr.To[int64](2))}, true},
		{"no failover timeout: nothing to keep", []corev1.Toleration{unreachable(ptr.To[int64](20))}, 0,
			[]corev1.Toleration{unreachable(ptr.To[int64](20))}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]corev1.Toleration(nil), tc.in...)
			got, changed := OutageTolerations(in, tc.minimum)
			if changed != tc.changed || !equality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("got %v (changed %v), want %v (changed %v)", got, changed, tc.want, tc.changed)
			}
			if !equality.Semantic.DeepEqual(in, tc.in) {
				t.Errorf("the pod's own tolerations were changed in place: %v", in)
			}
		})
	}
}
