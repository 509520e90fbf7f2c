package spotifytest

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"
)

// Host names of the services New mounts.
const (
	ApresolveHost   = "apresolve.spotify.com"
	ClientTokenHost = "clienttoken.spotify.com"
	Login5Host      = "login5.spotify.com"
)

// Default addresses apresolve hands out. The access point is a dummy: no
// fake can pass the AP handshake (its signature key is Spotify's).
const (
	DefaultAccesspointAddr = "ap.test:4070"
	DefaultDealerAddr      = "dealer.test:443"
	DefaultSpclientAddr    = "spclient.test:443"
)

// ApresolveServer answers GET /?type=accesspoint&type=dealer&type=spclient
// with a JSON object holding one string list per requested type.
type ApresolveServer struct {
	mu    sync.Mutex
	lists map[string][]string
}

func newApresolveServer() *ApresolveServer {
	return &ApresolveServer{lists: map[string][]string{
		"accesspoint": {DefaultAccesspointAddr},
		"dealer":      {DefaultDealerAddr},
		"spclient":    {DefaultSpclientAddr},
	}}
}

// SetAddresses replaces the list answered for kind ("accesspoint",
// "dealer", "spclient"). An empty list is answered as such, which lets a
// test see how a client copes with it.
func (s *ApresolveServer) SetAddresses(kind string, addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists[kind] = slices.Clone(addrs)
}

func (s *ApresolveServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "apresolve: only GET", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	types := r.URL.Query()["type"]
	out := map[string][]string{}
	s.mu.Lock()
	if len(types) == 0 {
		for k, v := range s.lists {
			out[k] = slices.Clone(v)
		}
	}
	for _, t := range types {
		if v, ok := s.lists[t]; ok {
			out[t] = slices.Clone(v)
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
