package mesossim

import (
	"fmt"
	"net/http"
)

// serveFaults injects faults over HTTP, for people and tests outside the process:
//
//	POST /faults/partition?agent=HOST    tasks UNREACHABLE (LOST if not partition-aware), offers rescinded, FAILURE event
//	POST /faults/remove?agent=HOST       as partition, but tasks GONE_BY_OPERATOR
//	POST /faults/drop-stream?framework=ID  closes the framework's event stream
func (m *Master) serveFaults(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "Expecting a 'POST' request", http.StatusMethodNotAllowed)
		return
	}
	var err error
	switch r.URL.Path {
	case "/faults/partition":
		err = m.PartitionAgent(r.URL.Query().Get("agent"))
	case "/faults/remove":
		err = m.RemoveAgent(r.URL.Query().Get("agent"))
	case "/faults/drop-stream":
		id := r.URL.Query().Get("framework")
		m.mu.Lock()
		_, ok := m.frameworks[id]
		m.mu.Unlock()
		if !ok {
			err = fmt.Errorf("no framework %q", id)
		} else {
			m.DropStream(id)
		}
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}
