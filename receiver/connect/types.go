package connect

import (
	"time"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
	devicespb "github.com/devgianlu/go-librespot/proto/spotify/connectstate/devices"
	playerpb "github.com/devgianlu/go-librespot/proto/spotify/player"

	"github.com/speakerbox/speakerbox/receiver/hooks"
)

// ClientID is the Spotify client id the receiver presents (go-librespot's,
// accepted by Spotify for Connect devices).
const ClientID = "65b708073fc0480ea92a077233ca87bd"

// MaxVolume is the top of Spotify's volume scale.
const MaxVolume = 65535

// Autoplay says who decides whether similar music follows the end of a
// context.
type Autoplay int

const (
	AutoplayFollowApp Autoplay = iota // the account's setting (AutoplaySetting input)
	AutoplayOn                        // always
	AutoplayOff                       // never
)

// Config is fixed for the life of a State.
type Config struct {
	DeviceID        string               // 40 lowercase hex characters
	DeviceName      string               // shown in the apps
	DeviceType      devicespb.DeviceType // e.g. devicespb.DeviceType_SPEAKER
	SoftwareVersion string               // device_software_version
	VolumeSteps     int32                // steps the apps offer; 0 means 100
	InitialVolume   uint32               // 0..65535 as given (0 is silence), used when no volume is remembered
	MaxVolume       uint32               // 0..65535 cap on every volume; 0 means 65535
	Autoplay        Autoplay
	SupportsLogout  bool // advertise supports_logout (the loop can drop the session)

	// Bounds; zero values mean the defaults in parentheses.
	MaxWalkPages int           // pages loaded while looking for a track (256)
	MaxWalkTime  time.Duration // time spent looking for a track (10 s)
	LoadTimeout  time.Duration // a load with no result after this failed (20 s)
	MaxQueue     int           // queued tracks (1000)
	MaxFailures  int           // unplayable tracks in a row before stopping (10)
	PrefetchLead time.Duration // prefetch the next track this long before the end (30 s)
}

func (c *Config) withDefaults() {
	if c.VolumeSteps <= 0 {
		c.VolumeSteps = 100
	}
	if c.MaxVolume == 0 || c.MaxVolume > MaxVolume {
		c.MaxVolume = MaxVolume
	}
	if c.InitialVolume > MaxVolume {
		c.InitialVolume = MaxVolume
	}
	if c.MaxWalkPages <= 0 {
		c.MaxWalkPages = 256
	}
	if c.MaxWalkTime <= 0 {
		c.MaxWalkTime = 10 * time.Second
	}
	if c.LoadTimeout <= 0 {
		c.LoadTimeout = 20 * time.Second
	}
	if c.MaxQueue <= 0 {
		c.MaxQueue = 1000
	}
	if c.MaxFailures <= 0 {
		c.MaxFailures = 10
	}
	if c.PrefetchLead <= 0 {
		c.PrefetchLead = 30 * time.Second
	}
	if c.DeviceType == devicespb.DeviceType_UNKNOWN {
		c.DeviceType = devicespb.DeviceType_SPEAKER
	}
}

// Input is one thing that happened, at Now.
type Input struct {
	Now   time.Time
	Event Event
}

// Event is one of the input types below.
type Event interface{ isEvent() }

// Request is a dealer request (message_ident
// hm://connect-state/v1/player/command): Key to reply to and Payload, the
// decoded JSON {message_id, sent_by_device_id, command:{endpoint, ...}}.
type Request struct {
	Key     string
	Payload []byte
}

// ConnectionID is a new dealer connection (the pusher message's
// Spotify-Connection-Id), the first or after a reconnect.
type ConnectionID struct{ ID string }

// VolumeMessage is hm://connect-state/v1/connect/volume: a protobuf
// SetVolumeCommand.
type VolumeMessage struct{ Payload []byte }

// LogoutMessage is hm://connect-state/v1/connect/logout.
type LogoutMessage struct{}

// ClusterMessage is hm://connect-state/v1/cluster: a protobuf ClusterUpdate.
type ClusterMessage struct{ Payload []byte }

// LocalVolume is a volume change made on the speaker itself (a hardware
// mixer control); it is reported to the apps, not sent back to the player.
type LocalVolume struct{ Volume uint32 }

// AutoplaySetting is the account's autoplay setting (user attributes).
type AutoplaySetting struct{ On bool }

// Shutdown: the receiver is stopping; leave the apps' device lists at once.
type Shutdown struct{}

// Tick is a timer tick: load timeouts, walk bounds and prefetch are
// checked against Input.Now. The loop should tick about once a second
// while State.WantsTick says so.
type Tick struct{}

// TrackStarted: the player has the track of PlaybackID ready and is
// playing it (or holds it paused, as asked), at PositionMs of DurationMs.
type TrackStarted struct {
	PlaybackID string
	PositionMs int64
	DurationMs int64
}

// TrackPosition reports the player's position (e.g. after a seek or a
// stall), used to re-anchor the published position.
type TrackPosition struct {
	PlaybackID string
	PositionMs int64
}

// TrackEnded: the track of PlaybackID played to its end.
type TrackEnded struct{ PlaybackID string }

// TrackUnavailable: the track of PlaybackID cannot be played (restricted,
// no key, no file, network trouble beyond retries).
type TrackUnavailable struct {
	PlaybackID string
	Reason     string
}

// ContextLoaded is the result of LoadContext ID.
type ContextLoaded struct {
	ID      uint64
	Context *connectpb.Context
	Err     error
}

// PageLoaded is the result of LoadPage ID.
type PageLoaded struct {
	ID   uint64
	Page *connectpb.ContextPage
	Err  error
}

// AutoplayLoaded is the result of LoadAutoplay ID (a station context).
type AutoplayLoaded struct {
	ID      uint64
	Context *connectpb.Context
	Err     error
}

func (Request) isEvent()          {}
func (ConnectionID) isEvent()     {}
func (VolumeMessage) isEvent()    {}
func (LogoutMessage) isEvent()    {}
func (ClusterMessage) isEvent()   {}
func (LocalVolume) isEvent()      {}
func (AutoplaySetting) isEvent()  {}
func (Shutdown) isEvent()         {}
func (Tick) isEvent()             {}
func (TrackStarted) isEvent()     {}
func (TrackPosition) isEvent()    {}
func (TrackEnded) isEvent()       {}
func (TrackUnavailable) isEvent() {}
func (ContextLoaded) isEvent()    {}
func (PageLoaded) isEvent()       {}
func (AutoplayLoaded) isEvent()   {}

// Effect is one of the effect types below; see the package doc for how the
// loop carries each out.
type Effect interface{ isEffect() }

// Reply answers dealer request Key.
type Reply struct {
	Key     string
	Success bool
}

// Hook is an event for the hook runner.
type Hook struct{ Event hooks.Event }

// PlayerLoad: load URI (spotify:track:… or spotify:episode:…) and start at
// PositionMs, paused if Paused. Events about it carry PlaybackID.
type PlayerLoad struct {
	PlaybackID string
	URI        string
	PositionMs int64
	Paused     bool
}

// PlayerPause pauses the current track.
type PlayerPause struct{}

// PlayerResume resumes the current track.
type PlayerResume struct{}

// PlayerSeek moves the current track to PositionMs.
type PlayerSeek struct{ PositionMs int64 }

// PlayerStop stops playback and drops the current and prefetched streams.
type PlayerStop struct{}

// PlayerSetVolume sets the output volume, 0..65535 (already capped by
// Config.MaxVolume).
type PlayerSetVolume struct{ Volume uint32 }

// PlayerPrefetch: fetch URI ahead; it is likely the next PlayerLoad. A new
// PlayerPrefetch replaces the previous one.
type PlayerPrefetch struct{ URI string }

// LoadContext: resolve the context URI (GET /context-resolve/v1/<URI>),
// answer with ContextLoaded{ID}.
type LoadContext struct {
	ID  uint64
	URI string
}

// LoadPage: fetch the page URL (hm://… → spclient path, query verbatim),
// answer with PageLoaded{ID}.
type LoadPage struct {
	ID  uint64
	URL string
}

// LoadAutoplay: POST Request to /context-resolve/v1/autoplay, answer with
// AutoplayLoaded{ID}.
type LoadAutoplay struct {
	ID      uint64
	Request *playerpb.AutoplayContextRequest
}

// Publish: PUT Request to connect-state with ConnectionID. Before the
// first ConnectionID input ConnectionID is empty: drop such a publish (the
// NEW_DEVICE after the connection id carries the whole state anyway).
type Publish struct {
	ConnectionID string
	Request      *connectpb.PutStateRequest
}

// PublishInactive: PUT …/inactive?notify=false with ConnectionID.
type PublishInactive struct{ ConnectionID string }

// AmplifierIdle: nothing plays any more; start the amplifier idle timeout.
type AmplifierIdle struct{}

// SaveVolume: remember Volume (0..65535) for the next start.
type SaveVolume struct{ Volume uint32 }

// Logout: the user logged out from an app; drop the session.
type Logout struct{}

// GaveUp: Failures tracks in a row could not be played, so playback
// stopped rather than walk the whole context; Reason is the last one's.
// The loop tells the owner (the log), since nothing plays and the app
// shows only a stopped player.
type GaveUp struct {
	Failures int
	Reason   string
}

func (Reply) isEffect()           {}
func (Hook) isEffect()            {}
func (PlayerLoad) isEffect()      {}
func (PlayerPause) isEffect()     {}
func (PlayerResume) isEffect()    {}
func (PlayerSeek) isEffect()      {}
func (PlayerStop) isEffect()      {}
func (PlayerSetVolume) isEffect() {}
func (PlayerPrefetch) isEffect()  {}
func (LoadContext) isEffect()     {}
func (LoadPage) isEffect()        {}
func (LoadAutoplay) isEffect()    {}
func (Publish) isEffect()         {}
func (PublishInactive) isEffect() {}
func (AmplifierIdle) isEffect()   {}
func (SaveVolume) isEffect()      {}
func (Logout) isEffect()          {}
func (GaveUp) isEffect()          {}
