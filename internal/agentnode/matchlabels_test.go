package agentnode

import (
	"maps"
	"testing"
)

// An agent's Node is matched with its attribute labels under the attributes' own names
// too, as an offer of the agent reads; a Node without attribute labels keeps its map.
func TestMatchLabels(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   map[string]string
		want map[string]string
	}{
		{"no attributes", map[string]string{"kubernetes.io/hostname": "h1"}, map[string]string{"kubernetes.io/hostname": "h1"}},
		{"attributes", map[string]string{"kubernetes.io/hostname": "h1", LabelAttributePrefix + "rack": "r1", LabelAttributePrefix + "zone": ""},
			map[string]string{"kubernetes.io/hostname": "h1", LabelAttributePrefix + "rack": "r1", LabelAttributePrefix + "zone": "", "rack": "r1", "zone": ""}},
		{"the attribute's value wins over a label of its name", map[string]string{"rack": "x", LabelAttributePrefix + "rack": "r1"},
			map[string]string{"rack": "r1", LabelAttributePrefix + "rack": "r1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := maps.Clone(tc.in)
			if got := MatchLabels(tc.in); !maps.Equal(got, tc.want) {
				t.Fatalf("MatchLabels = %v, want %v", got, tc.want)
			}
			if !maps.Equal(tc.in, before) {
				t.Fatal("the Node's own labels were changed")
			}
		})
	}
}
