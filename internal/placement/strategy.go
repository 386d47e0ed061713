package placement

// Strategy chooses among the offers a task fits.
type Strategy string

const (
	// Spread prefers the offer with the most cpus and memory left after the task, then
	// the one with the fewest tasks placed this round.
	Spread Strategy = "spread"
	// Binpack prefers the offer with the least cpus and memory left after the task (the
	// fullest that still fits), then the one with the most tasks placed this round.
	Binpack Strategy = "binpack"
)

// score is how much room an offer keeps after a request, cpus and memory each as a
// share of the largest offer of the round (inv holds the reciprocals of those).
func (s *offerState) score(r *Request, inv *[2]float64) float64 {
	return (s.free(kindCPUs, r.Role)-r.CPUs)*inv[0] + (s.free(kindMem, r.Role)-r.MemMB)*inv[1]
}

// better says whether an offer with score and tasks placed this round beats the best so
// far: spread wants the most room (then the fewest tasks), binpack the least room (then
// the most tasks). Ties keep the earlier offer.
func better(strategy Strategy, score float64, placed int, bestScore float64, bestPlaced int) bool {
	if strategy == Binpack {
		return score < bestScore-epsilon || (score <= bestScore+epsilon && placed > bestPlaced)
	}
	return score > bestScore+epsilon || (score >= bestScore-epsilon && placed < bestPlaced)
}
