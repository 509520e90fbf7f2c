package localapi

import (
	"strconv"
	"strings"
	"time"

	"github.com/speakerbox/speakerbox/internal/redact"
	"github.com/speakerbox/speakerbox/receiver/hooks"
)

// Session states of GET /status.
const (
	StateOffline   = "offline"    // not connected to Spotify
	StateWaiting   = "waiting"    // no user: waiting for a phone
	StateLoggingIn = "logging_in" // logging in
	StateConnected = "connected"  // logged in, nothing playing
	StatePlaying   = "playing"
	StatePaused    = "paused"
)

// Status is the body of GET /status and of every SSE event's "status".
type Status struct {
	Device   DeviceInfo         `json:"device"`
	Session  SessionStatus      `json:"session"`
	Track    *TrackStatus       `json:"track"`
	Volume   VolumeStatus       `json:"volume"`
	Relay    RelayStatus        `json:"relay"`
	Output   OutputStatus       `json:"output"`
	Buffer   BufferStatus       `json:"buffer"`
	Counters map[string]float64 `json:"counters"`
}

// DeviceInfo says which speaker this is.
type DeviceInfo struct {
	Name    string `json:"name"`
	ID      string `json:"id"`
	Version string `json:"version"`
	// Started is when this process started serving (New's time unless
	// set): the page shows "running since", and sees a restart by it.
	Started time.Time `json:"started"`
}

// SessionStatus is the Spotify session; User is shortened ("al…h").
type SessionStatus struct {
	State string `json:"state"`
	User  string `json:"user"`
}

// TrackStatus is the current track. PositionMs is the position at
// PositionAt; a client moves it on while the state is playing.
type TrackStatus struct {
	URI        string    `json:"uri"`
	Name       string    `json:"name"`
	Artists    []string  `json:"artists"`
	Album      string    `json:"album"`
	CoverURL   string    `json:"cover_url"`
	DurationMs int64     `json:"duration_ms"`
	PositionMs int64     `json:"position_ms"`
	PositionAt time.Time `json:"position_at"`
}

// VolumeStatus is the volume in percent and on Spotify's 0..65535 scale.
type VolumeStatus struct {
	Percent int    `json:"percent"`
	Raw     uint16 `json:"raw"`
}

// RelayStatus is the amplifier relay.
type RelayStatus struct {
	On   bool      `json:"on"`
	Mode RelayMode `json:"mode"`
}

// OutputStatus is the audio device and the format negotiated with it.
type OutputStatus struct {
	Device   string `json:"device"`
	Format   string `json:"format"`
	Rate     int    `json:"rate"`
	Channels int    `json:"channels"`
}

// BufferStatus is the output ring buffer.
type BufferStatus struct {
	Fill      float64 `json:"fill"`
	Underruns uint64  `json:"underruns"`
}

// model is what the hook events tell, folded. It is a value: a copy is a
// snapshot.
type model struct {
	state      string
	user       string // whole; shortened when rendered
	track      *trackModel
	positionMs int64
	positionAt time.Time
	volume     uint16
}

type trackModel struct {
	id, uri, name, album, cover string
	artists                     []string
	durationMs                  int64
}

// apply folds one hook event into m; now is when it happened. Events the
// status does not show (loading, shuffle_changed, ...) change nothing.
func (m *model) apply(ev hooks.Event, now time.Time) {
	v := ev.Vars
	switch ev.Name {
	case hooks.SessionConnected:
		m.state, m.user = StateConnected, v["USER_NAME"]
	case hooks.SessionDisconnected:
		m.state, m.user, m.track = StateWaiting, "", nil
	case hooks.TrackChanged:
		t := &trackModel{id: v["TRACK_ID"], uri: v["URI"], name: v["NAME"], album: v["ALBUM"], durationMs: msVar(v, "DURATION_MS")}
		if t.uri == "" && t.id != "" {
			t.uri = "spotify:track:" + t.id
		}
		if a := v["ARTISTS"]; a != "" {
			t.artists = strings.Split(a, "\n")
		}
		t.cover, _, _ = strings.Cut(v["COVERS"], "\n")
		m.track, m.positionMs, m.positionAt = t, 0, now
	case hooks.Playing, hooks.Paused:
		m.state = StatePlaying
		if ev.Name == hooks.Paused {
			m.state = StatePaused
		}
		m.atTrack(v["TRACK_ID"])
		m.positionMs, m.positionAt = msVar(v, "POSITION_MS"), now
		if d := msVar(v, "DURATION_MS"); d > 0 && m.track != nil && d != m.track.durationMs {
			t := *m.track // snapshots share the old one
			t.durationMs = d
			m.track = &t
		}
	case hooks.Seeked:
		m.atTrack(v["TRACK_ID"])
		m.positionMs, m.positionAt = msVar(v, "POSITION_MS"), now
	case hooks.EndOfTrack:
		if m.track != nil {
			m.positionMs, m.positionAt = m.track.durationMs, now
		}
	case hooks.Stopped:
		if m.state == StatePlaying || m.state == StatePaused {
			m.state = StateConnected
		}
		m.track = nil
	case hooks.VolumeChanged:
		if n, err := strconv.ParseUint(v["VOLUME"], 10, 16); err == nil {
			m.volume = uint16(n)
		}
	}
}

// atTrack makes sure the track is the one with id: a playing event for a
// track whose track_changed was missed still shows its id.
func (m *model) atTrack(id string) {
	if id == "" || (m.track != nil && m.track.id == id) {
		return
	}
	m.track = &trackModel{id: id, uri: "spotify:track:" + id}
}

func msVar(v map[string]string, k string) int64 {
	n, err := strconv.ParseInt(v[k], 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// overlay takes the device's own view, which knows what hooks cannot
// (offline, logging in) and is the authority on what it reports; the
// track's description stays the hooks' when the URI matches.
func (m model) overlay(rs ReceiverStatus) model {
	if rs.Session == "" {
		return m
	}
	m.state, m.user, m.volume = rs.Session, rs.User, rs.Volume
	switch {
	case rs.TrackURI == "":
		m.track = nil
	case m.track == nil || m.track.uri != rs.TrackURI:
		m.track = &trackModel{uri: rs.TrackURI}
	default:
		t := *m.track
		m.track = &t
	}
	if m.track != nil {
		if rs.DurationMs > 0 {
			m.track.durationMs = rs.DurationMs
		}
		m.positionMs, m.positionAt = rs.PositionMs, rs.PositionAt
	}
	return m
}

// sessionFrom takes the device's session state where the hooks know of no
// session (waiting, or nothing yet) and the device tells what the hooks
// cannot: that it is offline or logging in.
func (m model) sessionFrom(rs ReceiverStatus) model {
	if (m.state == StateWaiting || m.state == StateOffline) && (rs.Session == StateOffline || rs.Session == StateLoggingIn) {
		m.state = rs.Session
	}
	return m
}

// status renders m for the API.
func (m model) status() (SessionStatus, *TrackStatus, VolumeStatus) {
	ss := SessionStatus{State: m.state, User: redact.Username(m.user)}
	vs := VolumeStatus{Raw: m.volume, Percent: int((uint32(m.volume)*100 + 65535/2) / 65535)}
	if m.track == nil {
		return ss, nil, vs
	}
	t := m.track
	artists := t.artists
	if artists == nil {
		artists = []string{}
	}
	return ss, &TrackStatus{URI: t.uri, Name: t.name, Artists: artists, Album: t.album, CoverURL: t.cover,
		DurationMs: t.durationMs, PositionMs: m.positionMs, PositionAt: m.positionAt}, vs
}

// percentToRaw maps a volume in percent to Spotify's scale.
func percentToRaw(p int) uint16 { return uint16(p * 65535 / 100) }

// publicVars are the event's variables as SSE clients see them: the user
// name shortened, as everywhere the API shows it.
func publicVars(ev hooks.Event) map[string]string {
	out := make(map[string]string, len(ev.Vars))
	for k, v := range ev.Vars {
		if k == "USER_NAME" {
			v = redact.Username(v)
		}
		out[k] = v
	}
	return out
}
