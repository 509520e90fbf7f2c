// Package hooks runs the owner's commands on receiver events, compatible
// with librespot's --onevent (PLAYER_EVENT and its variables, the names of
// librespot 0.5 and later) and --emit-sink-events (PLAYER_EVENT=sink with
// SINK_STATUS), plus our own amp_on and amp_off.
package hooks

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The values of PLAYER_EVENT. Apart from AmpOn and AmpOff they are
// librespot's, with the same variables.
const (
	SessionConnected     = "session_connected"      // CONNECTION_ID USER_NAME
	SessionDisconnected  = "session_disconnected"   // CONNECTION_ID USER_NAME
	SessionClientChanged = "session_client_changed" // CLIENT_ID CLIENT_NAME CLIENT_BRAND_NAME CLIENT_MODEL_NAME
	TrackChanged         = "track_changed"          // TRACK_ID URI NAME DURATION_MS ... (+ OLD_TRACK_ID)
	Playing              = "playing"                // TRACK_ID POSITION_MS (+ DURATION_MS)
	Paused               = "paused"                 // TRACK_ID POSITION_MS (+ DURATION_MS)
	Stopped              = "stopped"                // TRACK_ID
	Loading              = "loading"                // TRACK_ID
	Preloading           = "preloading"             // TRACK_ID
	EndOfTrack           = "end_of_track"           // TRACK_ID
	Unavailable          = "unavailable"            // TRACK_ID
	Seeked               = "seeked"                 // TRACK_ID POSITION_MS
	VolumeChanged        = "volume_changed"         // VOLUME (0..65535)
	ShuffleChanged       = "shuffle_changed"        // SHUFFLE
	RepeatChanged        = "repeat_changed"         // REPEAT REPEAT_TRACK
	AutoPlayChanged      = "auto_play_changed"      // AUTO_PLAY
	Sink                 = "sink"                   // SINK_STATUS
	AmpOn                = "amp_on"                 // ours: the amplifier was switched on
	AmpOff               = "amp_off"                // ours: the amplifier was switched off
)

// SINK_STATUS values.
const (
	SinkRunning           = "running"
	SinkTemporarilyClosed = "temporarily_closed"
	SinkClosed            = "closed"
)

// Event is one run of a hook: PLAYER_EVENT and the variables that go with it.
type Event struct {
	Name string
	Vars map[string]string
}

// Env is the event as environment entries, PLAYER_EVENT first, the rest
// sorted.
func (e Event) Env() []string {
	env := []string{"PLAYER_EVENT=" + e.Name}
	for _, k := range slices.Sorted(maps.Keys(e.Vars)) {
		env = append(env, k+"="+e.Vars[k])
	}
	return env
}

func ev(name string, kv ...string) Event {
	e := Event{Name: name, Vars: make(map[string]string, len(kv)/2)}
	for i := 0; i+1 < len(kv); i += 2 {
		e.Vars[kv[i]] = kv[i+1]
	}
	return e
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// Session is session_connected or session_disconnected. The user name goes
// to the hook whole (as librespot does); logs shorten it.
func Session(connected bool, connectionID, userName string) Event {
	name := SessionDisconnected
	if connected {
		name = SessionConnected
	}
	return ev(name, "CONNECTION_ID", connectionID, "USER_NAME", userName)
}

// ClientChanged is session_client_changed: another app took control.
func ClientChanged(id, name, brand, model string) Event {
	return ev(SessionClientChanged, "CLIENT_ID", id, "CLIENT_NAME", name, "CLIENT_BRAND_NAME", brand, "CLIENT_MODEL_NAME", model)
}

// Track is what track_changed tells; empty fields are left out.
type Track struct {
	ID       string // base62 track ID, as librespot's TRACK_ID
	OldID    string // the track before (OLD_TRACK_ID, as librespot 0.4's "changed")
	URI      string
	Name     string
	Duration time.Duration
	Artists  []string
	Album    string
	Number   int
	Explicit bool
	Covers   []string
}

// TrackChangedEvent is track_changed. Lists are joined with newlines, as
// librespot does.
func TrackChangedEvent(t Track) Event {
	e := ev(TrackChanged, "TRACK_ID", t.ID, "DURATION_MS", ms(t.Duration),
		"IS_EXPLICIT", strconv.FormatBool(t.Explicit), "ITEM_TYPE", "Track")
	set := func(k, v string) {
		if v != "" {
			e.Vars[k] = v
		}
	}
	set("OLD_TRACK_ID", t.OldID)
	set("URI", t.URI)
	set("NAME", t.Name)
	set("ARTISTS", strings.Join(t.Artists, "\n"))
	set("ALBUM", t.Album)
	set("COVERS", strings.Join(t.Covers, "\n"))
	if t.Number > 0 {
		e.Vars["NUMBER"] = strconv.Itoa(t.Number)
	}
	return e
}

// Position is playing or paused: the track and where in it. DURATION_MS is
// set too when known, as librespot 0.4 did.
func Position(name, trackID string, position, duration time.Duration) Event {
	e := ev(name, "TRACK_ID", trackID, "POSITION_MS", ms(position))
	if duration > 0 {
		e.Vars["DURATION_MS"] = ms(duration)
	}
	return e
}

// SeekedEvent is seeked.
func SeekedEvent(trackID string, position time.Duration) Event {
	return ev(Seeked, "TRACK_ID", trackID, "POSITION_MS", ms(position))
}

// TrackEvent is one of the events that carry only TRACK_ID: stopped,
// loading, preloading, end_of_track, unavailable.
func TrackEvent(name, trackID string) Event { return ev(name, "TRACK_ID", trackID) }

// Volume is volume_changed, on Spotify's 0..65535 scale like librespot.
func Volume(v uint16) Event { return ev(VolumeChanged, "VOLUME", strconv.Itoa(int(v))) }

// Flag is shuffle_changed (SHUFFLE) or auto_play_changed (AUTO_PLAY).
func Flag(name string, on bool) Event {
	key := "SHUFFLE"
	if name == AutoPlayChanged {
		key = "AUTO_PLAY"
	}
	return ev(name, key, strconv.FormatBool(on))
}

// Repeat is repeat_changed.
func Repeat(context, track bool) Event {
	return ev(RepeatChanged, "REPEAT", strconv.FormatBool(context), "REPEAT_TRACK", strconv.FormatBool(track))
}

// SinkEvent is PLAYER_EVENT=sink with SINK_STATUS running,
// temporarily_closed or closed.
func SinkEvent(status string) Event { return ev(Sink, "SINK_STATUS", status) }

// Amp is amp_on or amp_off.
func Amp(on bool) Event {
	if on {
		return ev(AmpOn)
	}
	return ev(AmpOff)
}
