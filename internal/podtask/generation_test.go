package podtask

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mesosv1alpha1 "github.com/k8sm/k8sm/api/v1alpha1"
)

func TestStampGeneration(t *testing.T) {
	for _, tc := range []struct {
		name string
		mt   mesosv1alpha1.MesosTask
		want int64
	}{
		{"a MesosTask not written yet is generation 1 once created", mesosv1alpha1.MesosTask{}, 1},
		{"a written one goes one generation on", mesosv1alpha1.MesosTask{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "12", Generation: 3}}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mt := tc.mt
			mt.Status.Conditions = []metav1.Condition{{Type: mesosv1alpha1.TaskConditionScheduled, ObservedGeneration: 1}}
			StampGeneration(&mt)
			if mt.Status.ObservedGeneration != tc.want || mt.Status.Conditions[0].ObservedGeneration != tc.want {
				t.Errorf("observed generations = %d, %d; want %d", mt.Status.ObservedGeneration, mt.Status.Conditions[0].ObservedGeneration, tc.want)
			}
		})
	}
}
