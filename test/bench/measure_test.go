package main

import (
	"testing"
	"time"
)

func TestSpread(t *testing.T) {
	for _, c := range []struct {
		vs   []float64
		want string
	}{
		{[]float64{3}, "3.0 (3.0–3.0)"},
		{[]float64{5, 1, 3}, "3.0 (1.0–5.0)"},
		{[]float64{4, 1, 2, 10}, "3.0 (1.0–10.0)"},
	} {
		if got := spread(c.vs, "%.1f"); got != c.want {
			t.Errorf("spread(%v) = %q, want %q", c.vs, got, c.want)
		}
	}
	if got := perPod(3*time.Second, 2000); got != 1.5 {
		t.Errorf("perPod(3s, 2000) = %v ms, want 1.5", got)
	}
}
