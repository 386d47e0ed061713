package placement

// readNominated gives each agent of the round the pods nominated to its Node
// (Input.Nominated).
func (rd *round) readNominated() {
	if len(rd.in.Nominated) == 0 {
		return
	}
	rd.nominees = make(map[string]bool, len(rd.in.Nominated))
	for k := range rd.in.Nominated {
		rd.nominees[rd.in.Nominated[k].ID] = true
	}
	byNode := make(map[string]*agentState, len(rd.agents))
	for _, ag := range rd.agents {
		byNode[ag.node.Name] = ag
	}
	for k := range rd.in.Nominated {
		if ag := byNode[rd.in.Nominated[k].Node]; ag != nil {
			ag.nominated = append(ag.nominated, k)
			if rd.nominatedPlaced == nil {
				rd.nominatedPlaced = make([]bool, len(rd.in.Nominated))
			}
		}
	}
}

// placedNominated notes that the pod of a request placed in the round no longer needs
// the room kept for it.
func (rd *round) placedNominated(r *Request) {
	for k := range rd.in.Nominated {
		if rd.in.Nominated[k].ID == r.ID {
			rd.nominatedPlaced[k] = true
		}
	}
}

// keptFor is the first scalar resource (as the reason of fits) the request, which fits
// the offer, would leave too little of for the pods nominated to its agent that it
// must leave room for: those of no lower priority than its own, but itself and those
// placed in the round already; -1 when it leaves enough (or there are none).
func (rd *round) keptFor(r *Request, s *offerState) int {
	var kept [kindCount]float64
	keeps := false
	for _, k := range s.agent.nominated {
		n := &rd.in.Nominated[k]
		if n.ID == r.ID || n.Priority < r.Priority || rd.nominatedPlaced[k] {
			continue
		}
		kept[kindCPUs] += round3(n.CPUs)
		kept[kindMem] += round3(n.MemMB)
		kept[kindDisk] += round3(n.DiskMB)
		kept[kindGPUs] += round3(n.GPUs)
		keeps = true
	}
	if !keeps {
		return -1
	}
	for k := range kindCount {
		need := r.amount(k)
		if rd.exec != nil && s.agent.needExecutor && k != kindGPUs {
			need += rd.exec.amount(k)
		}
		if need > epsilon && s.free(k, r.Role)-kept[k]+epsilon < need {
			return reasonCPUs + k
		}
	}
	return -1
}
