package spotifytest

import (
	"net/http"
	"strconv"
	"strings"

	downloadpb "github.com/devgianlu/go-librespot/proto/spotify/download"
	emdpb "github.com/devgianlu/go-librespot/proto/spotify/extendedmetadata"
	audiofilespb "github.com/devgianlu/go-librespot/proto/spotify/extendedmetadata/audiofiles"
	metadatapb "github.com/devgianlu/go-librespot/proto/spotify/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// SpclientMediaResolve is one storage-resolve request the fake took.
type SpclientMediaResolve struct {
	// Kind is "interactive", "interactive_prefetch", or "v1" for
	// librespot's /storage-resolve/files/audio/interactive/<hex>.
	Kind   string
	Format int32 // -1 for the v1 form
	FileID string
}

// spclientMedia is the SpclientServer's media state, guarded by its mu.
type spclientMedia struct {
	items    map[spclientMediaKey]proto.Message
	status   map[spclientMediaKey]int32
	storage  map[string]func(call int) *downloadpb.StorageResolveResponse
	calls    map[string]int
	resolves []SpclientMediaResolve
	requests []*emdpb.BatchedEntityRequest
}

type spclientMediaKey struct {
	uri  string
	kind emdpb.ExtensionKind
}

func (m *spclientMedia) spclientMediaInit() {
	if m.items == nil {
		m.items = map[spclientMediaKey]proto.Message{}
		m.status = map[spclientMediaKey]int32{}
		m.storage = map[string]func(int) *downloadpb.StorageResolveResponse{}
		m.calls = map[string]int{}
	}
}

// SetSpclientMediaTrack serves t as TRACK_V4 for uri.
func (s *SpclientServer) SetSpclientMediaTrack(uri string, t *metadatapb.Track) {
	s.spclientMediaSet(uri, emdpb.ExtensionKind_TRACK_V4, t)
}

// SetSpclientMediaEpisode serves e as EPISODE_V4 for uri.
func (s *SpclientServer) SetSpclientMediaEpisode(uri string, e *metadatapb.Episode) {
	s.spclientMediaSet(uri, emdpb.ExtensionKind_EPISODE_V4, e)
}

// SetSpclientMediaAudioFiles serves a as AUDIO_FILES for uri.
func (s *SpclientServer) SetSpclientMediaAudioFiles(uri string, a *audiofilespb.AudioFilesExtensionResponse) {
	s.spclientMediaSet(uri, emdpb.ExtensionKind_AUDIO_FILES, a)
}

func (s *SpclientServer) spclientMediaSet(uri string, kind emdpb.ExtensionKind, m proto.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.media.spclientMediaInit()
	s.media.items[spclientMediaKey{uri, kind}] = m
}

// SetSpclientMediaStatus makes the item (uri, kind) answer with the header
// status code (e.g. 404, or 200 with no payload registered); 0 removes it.
func (s *SpclientServer) SetSpclientMediaStatus(uri string, kind emdpb.ExtensionKind, status int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.media.spclientMediaInit()
	if status == 0 {
		delete(s.media.status, spclientMediaKey{uri, kind})
		return
	}
	s.media.status[spclientMediaKey{uri, kind}] = status
}

// SetSpclientMediaStorage answers storage-resolve for the file (hex id, any
// format, any kind) with what answer gives for the n-th call (from 1) for
// that file. A nil answer is a 404.
func (s *SpclientServer) SetSpclientMediaStorage(fileIDHex string, answer func(call int) *downloadpb.StorageResolveResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.media.spclientMediaInit()
	s.media.storage[strings.ToLower(fileIDHex)] = answer
}

// SpclientMediaCDN is a StorageResolveResponse with result CDN and urls.
func SpclientMediaCDN(urls ...string) *downloadpb.StorageResolveResponse {
	return &downloadpb.StorageResolveResponse{Result: downloadpb.StorageResolveResponse_CDN, Cdnurl: urls}
}

// SpclientMediaResolves returns the storage-resolve requests taken, in
// order.
func (s *SpclientServer) SpclientMediaResolves() []SpclientMediaResolve {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SpclientMediaResolve(nil), s.media.resolves...)
}

// SpclientMediaRequests returns the extended-metadata requests taken, in
// order.
func (s *SpclientServer) SpclientMediaRequests() []*emdpb.BatchedEntityRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*emdpb.BatchedEntityRequest(nil), s.media.requests...)
}

// spclientMediaServe answers the media endpoints and reports whether p was
// one of them.
func (s *SpclientServer) spclientMediaServe(w http.ResponseWriter, r *http.Request, p string, body []byte) bool {
	switch {
	case p == "/extended-metadata/v0/extended-metadata":
		if r.Method != http.MethodPost {
			spclientError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "POST only")
			return true
		}
		s.spclientMediaMetadata(w, body)
		return true
	case strings.HasPrefix(p, "/storage-resolve/"):
		s.spclientMediaStorage(w, r, p)
		return true
	}
	return false
}

func (s *SpclientServer) spclientMediaStorage(w http.ResponseWriter, r *http.Request, p string) {
	if r.Method != http.MethodGet {
		spclientError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "GET only")
		return
	}
	parts := strings.Split(strings.TrimPrefix(p, "/storage-resolve/"), "/")
	var rec SpclientMediaResolve
	switch {
	case len(parts) == 6 && parts[0] == "v2" && parts[1] == "files" && parts[2] == "audio" &&
		(parts[3] == "interactive" || parts[3] == "interactive_prefetch"):
		f, err := strconv.ParseInt(parts[4], 10, 32)
		if err != nil {
			spclientError(w, http.StatusBadRequest, "BAD_REQUEST", "bad format "+parts[4])
			return
		}
		rec = SpclientMediaResolve{Kind: parts[3], Format: int32(f), FileID: strings.ToLower(parts[5])}
	case len(parts) == 4 && parts[0] == "files" && parts[1] == "audio" && parts[2] == "interactive":
		rec = SpclientMediaResolve{Kind: "v1", Format: -1, FileID: strings.ToLower(parts[3])}
	default:
		spclientError(w, http.StatusNotFound, "NOT_FOUND", "no such storage-resolve path")
		return
	}
	s.mu.Lock()
	s.media.spclientMediaInit()
	s.media.resolves = append(s.media.resolves, rec)
	s.media.calls[rec.FileID]++
	n := s.media.calls[rec.FileID]
	answer := s.media.storage[rec.FileID]
	s.mu.Unlock()
	var resp *downloadpb.StorageResolveResponse
	if answer != nil {
		resp = answer(n)
	}
	if resp == nil {
		spclientError(w, http.StatusNotFound, "NOT_FOUND", "no such file")
		return
	}
	b, err := proto.Marshal(resp)
	if err != nil {
		spclientError(w, http.StatusInternalServerError, "INTERNAL", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/protobuf")
	_, _ = w.Write(b)
}

func (s *SpclientServer) spclientMediaMetadata(w http.ResponseWriter, body []byte) {
	var req emdpb.BatchedEntityRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		spclientError(w, http.StatusBadRequest, "BAD_REQUEST", "decode BatchedEntityRequest: "+err.Error())
		return
	}
	s.mu.Lock()
	s.media.spclientMediaInit()
	s.media.requests = append(s.media.requests, proto.Clone(&req).(*emdpb.BatchedEntityRequest))
	arrays := map[emdpb.ExtensionKind]*emdpb.EntityExtensionDataArray{}
	var order []emdpb.ExtensionKind
	for _, er := range req.GetEntityRequest() {
		for _, q := range er.GetQuery() {
			kind := q.GetExtensionKind()
			arr := arrays[kind]
			if arr == nil {
				arr = &emdpb.EntityExtensionDataArray{ExtensionKind: kind}
				arrays[kind] = arr
				order = append(order, kind)
			}
			key := spclientMediaKey{er.GetEntityUri(), kind}
			item := &emdpb.EntityExtensionData{EntityUri: er.GetEntityUri(), Header: &emdpb.EntityExtensionDataHeader{StatusCode: 404}}
			if m, ok := s.media.items[key]; ok {
				if a, err := anypb.New(m); err == nil {
					item.Header.StatusCode = 200
					item.ExtensionData = a
				}
			}
			if st, ok := s.media.status[key]; ok {
				item.Header.StatusCode = st
			}
			arr.ExtensionData = append(arr.ExtensionData, item)
		}
	}
	s.mu.Unlock()
	resp := &emdpb.BatchedExtensionResponse{}
	for _, k := range order {
		resp.ExtendedMetadata = append(resp.ExtendedMetadata, arrays[k])
	}
	b, err := proto.Marshal(resp)
	if err != nil {
		spclientError(w, http.StatusInternalServerError, "INTERNAL", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/protobuf")
	_, _ = w.Write(b)
}
