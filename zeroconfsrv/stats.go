package zeroconfsrv

import (
	"maps"
	"net/http"
	"sync"
)

// AddUserResult is one way an addUser request ended: the ZeroConf status
// the speaker answered and the HTTP status it came with (refusals such as
// ERROR-LOGIN-FAILED travel as HTTP 200, so both are kept).
type AddUserResult struct {
	Status int // the spec's status: 101 (OK) accepts, anything else refuses
	HTTP   int
}

// Accepted says whether the login was taken.
func (r AddUserResult) Accepted() bool { return r.Status == StatusOK.Code }

// Stats is a snapshot of the ZeroConf API's counters, for metrics.
type Stats struct {
	AddUser map[AddUserResult]uint64
}

// handlerStats counts addUser results; safe for concurrent use.
type handlerStats struct {
	mu      sync.Mutex
	addUser map[AddUserResult]uint64
}

func (s *handlerStats) noteAddUser(st Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addUser == nil {
		s.addUser = map[AddUserResult]uint64{}
	}
	s.addUser[AddUserResult{Status: st.Code, HTTP: st.HTTP}]++
}

// Stats returns the counters; safe from any goroutine.
func (h *Handler) Stats() Stats {
	h.stats.mu.Lock()
	defer h.stats.mu.Unlock()
	return Stats{AddUser: maps.Clone(h.stats.addUser)}
}

// addUserWriter marks the response of an addUser request, so that reply
// counts the status it answers with.
type addUserWriter struct{ http.ResponseWriter }
