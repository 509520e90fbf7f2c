package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	devicespb "github.com/devgianlu/go-librespot/proto/spotify/connectstate/devices"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/internal/statedir"
	"github.com/speakerbox/speakerbox/receiver/connect"
	"github.com/speakerbox/speakerbox/receiver/hooks"
	"github.com/speakerbox/speakerbox/receiver/spclient"
)

// Player is the audio player as the Connect device drives it. Its methods
// must not block on the network or on audio: the device calls them from the
// one goroutine that owns the Connect state.
type Player interface {
	// Load loads uri (spotify:track:… or spotify:episode:…) and starts it at
	// positionMs, held paused if paused. Events about it carry playbackID.
	Load(playbackID, uri string, positionMs int64, paused bool)
	Pause()
	Resume()
	// SeekTo moves the current track to positionMs (not Seek: go vet reserves
	// that name for io.Seeker's signature).
	SeekTo(positionMs int64)
	// Stop stops playback and drops the current and prefetched streams.
	Stop()
	// SetVolume sets the output volume, 0..65535.
	SetVolume(volume uint32)
	// Prefetch fetches uri ahead; a new call replaces the previous one.
	Prefetch(uri string)
	// Events delivers connect.TrackStarted, connect.TrackPosition,
	// connect.TrackEnded and connect.TrackUnavailable (other types are
	// ignored). It may be nil (no events). The device reads it for as long
	// as Run runs; the player should buffer it, since the device may be
	// busy for a moment.
	Events() <-chan connect.Event
}

// SessionUser is a Player that loads tracks through the logged-in session
// (the track player: metadata, storage-resolve and audio keys). The device
// tells it each chain's spclient client and access point connection once
// the chain is up, and (nil, nil) when the chain is torn down (a lost
// access point or dealer, a new login, logout, shutdown). UseSession is
// called from the device's goroutine and must not block.
type SessionUser interface {
	UseSession(sp *spclient.Client, conn Conn)
}

// Hooks runs the owner's commands on events; *hooks.Runner is one. Emit
// must not block.
type Hooks interface {
	Emit(hooks.Event)
}

// Amplifier is told when nothing plays any more, to start its idle
// timeout (gpio's *Relay and playback's *Output have this method).
type Amplifier interface {
	Idle()
}

// DeviceConfig configures a Device. HTTP, Dialer, Player, StateDir and
// DeviceID are required.
type DeviceConfig struct {
	// HTTP carries every HTTPS call and the dealer websocket (tests route
	// it to a fake Spotify).
	HTTP *http.Client
	// Dialer logs in to the access point (APDialer in production).
	Dialer Dialer
	// Credentials is the stored login to start with; nil waits for Login.
	Credentials *creds.Credentials
	// Accepted is told about a login the access point accepted (the
	// credentials used and the reusable ones it handed back), Rejected
	// about one it refused for good; typically a *creds.Store's methods.
	// Either may be nil.
	Accepted func(used, reusable creds.Credentials) error
	Rejected func(used creds.Credentials) error
	// LoggedOut is told when the user logged out from an app (the device
	// then waits for Login); may be nil.
	LoggedOut func(username string)

	Player Player
	Hooks  Hooks     // nil: no hooks
	Amp    Amplifier // nil: no amplifier control
	// LocalVolume delivers volume changes made on the speaker itself (a
	// hardware mixer control), 0..65535; they are reported to the apps.
	// nil: none.
	LocalVolume <-chan uint32

	// StateDir holds the remembered volume (file "volume").
	StateDir string
	// DeviceID is our stable device id (40 lowercase hex characters).
	DeviceID        string
	Name            string               // shown in the apps; "Speakerbox" when empty
	Type            devicespb.DeviceType // SPEAKER when unset
	SoftwareVersion string
	// InitialVolume (0..65535) is the volume at the first start
	// (audio.initial_volume); later starts use the remembered one.
	InitialVolume uint32
	MaxVolume     uint32 // audio.max_volume, 0..65535; 0 means no cap
	VolumeSteps   int32  // 0 means 100
	Autoplay      connect.Autoplay

	Log *slog.Logger

	// Time. Each defaults to the real clock.
	//
	// Now is the time given to the Connect state machine.
	Now func() time.Time
	// After waits out every backoff: the supervisor's between rebuilds,
	// the dealer's between reconnects, spclient's between retries.
	After func(time.Duration) <-chan time.Time
	// NewTicker gives the ticks the state machine asks for (loads' time
	// limits, prefetch); stop releases it.
	NewTicker func(d time.Duration) (ticks <-chan time.Time, stop func())
	// Jitter returns a value in [0,1) (rand.Float64).
	Jitter func() float64

	// Rebuild backoff after a lost access point or dealer, or a failed
	// login: exponential from MinBackoff (1 s) to MaxBackoff (5 min), each
	// wait drawn from the upper half; no give-up.
	MinBackoff, MaxBackoff time.Duration
	// DealerLostAfter: a dealer that stays disconnected this long (2 min)
	// is lost for good and the whole chain is rebuilt (apresolve may name
	// another dealer).
	DealerLostAfter time.Duration
	// LoadTimeout bounds one context, page or autoplay fetch (20 s).
	LoadTimeout time.Duration
	// ShutdownTimeout bounds the inactive call at shutdown and logout
	// (3 s).
	ShutdownTimeout time.Duration
	// DealerMinBackoff and DealerMaxBackoff pass to the dealer (defaults
	// there).
	DealerMinBackoff, DealerMaxBackoff time.Duration
	// Seed seeds the state machine's generator; 0 picks a random one.
	Seed uint64
}

// Device is the whole Connect receiver: it logs in, keeps the chain of
// Spotify services up (apresolve, client token, login5, spclient, dealer,
// publisher) and runs the Connect state machine over it. Create it with
// NewDevice and run it with Run.
type Device struct {
	cfg       DeviceConfig
	log       *slog.Logger
	state     connect.State
	logins    chan *creds.Credentials // nil value: log out
	ran       atomic.Bool
	loadedVol int64

	// The control API's way in: each is taken only by the loop's select,
	// so an answer proves the loop is alive. stopped closes when Run
	// returns, so that nobody waits for a loop that is gone.
	controls chan controlReq
	pings    chan struct{}
	stopped  chan struct{}
	status   statusCell
}

// NewDevice checks cfg, reads the remembered volume and returns a Device.
func NewDevice(cfg DeviceConfig) (*Device, error) {
	switch {
	case cfg.HTTP == nil:
		return nil, errors.New("receiver: DeviceConfig.HTTP is nil")
	case cfg.Dialer == nil:
		return nil, errors.New("receiver: DeviceConfig.Dialer is nil")
	case cfg.Player == nil:
		return nil, errors.New("receiver: DeviceConfig.Player is nil")
	case cfg.StateDir == "":
		return nil, errors.New("receiver: DeviceConfig.StateDir is empty")
	case !statedir.ValidDeviceID(cfg.DeviceID):
		return nil, fmt.Errorf("receiver: DeviceConfig.DeviceID %q: want 40 lowercase hex characters", cfg.DeviceID)
	case cfg.InitialVolume > connect.MaxVolume:
		return nil, fmt.Errorf("receiver: DeviceConfig.InitialVolume %d: want 0..%d", cfg.InitialVolume, connect.MaxVolume)
	case cfg.MaxVolume > connect.MaxVolume:
		return nil, fmt.Errorf("receiver: DeviceConfig.MaxVolume %d: want 0..%d", cfg.MaxVolume, connect.MaxVolume)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Name == "" {
		cfg.Name = "Speakerbox"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.NewTicker == nil {
		cfg.NewTicker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Minute, cfg.MinBackoff)
	}
	if cfg.DealerLostAfter <= 0 {
		cfg.DealerLostAfter = 2 * time.Minute
	}
	if cfg.LoadTimeout <= 0 {
		cfg.LoadTimeout = 20 * time.Second
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 3 * time.Second
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	if err := statedir.Ensure(cfg.StateDir); err != nil {
		return nil, err
	}
	remembered, err := loadVolume(cfg.StateDir)
	if err != nil {
		// A damaged file costs the remembered volume, nothing else.
		cfg.Log.Warn("ignoring the remembered volume", "err", err)
		remembered = -1
	}
	st := connect.New(connect.Config{
		DeviceID:        cfg.DeviceID,
		DeviceName:      cfg.Name,
		DeviceType:      cfg.Type,
		SoftwareVersion: cfg.SoftwareVersion,
		VolumeSteps:     cfg.VolumeSteps,
		InitialVolume:   cfg.InitialVolume,
		MaxVolume:       cfg.MaxVolume,
		Autoplay:        cfg.Autoplay,
		SupportsLogout:  true,
		LoadTimeout:     cfg.LoadTimeout,
	}, cfg.Seed, remembered)
	d := &Device{cfg: cfg, log: cfg.Log, state: st, logins: make(chan *creds.Credentials, 4), loadedVol: remembered,
		controls: make(chan controlReq), pings: make(chan struct{}), stopped: make(chan struct{})}
	d.status.set(offlineStatus(st.Volume()))
	return d, nil
}

// Login hands over new credentials (from a phone, through zeroconfsrv):
// the current user, if any, leaves and the new one logs in. It does not
// block on the network.
func (d *Device) Login(ctx context.Context, c creds.Credentials) error {
	select {
	case d.logins <- &c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Logout makes the device leave the apps and wait for new credentials.
func (d *Device) Logout(ctx context.Context) error {
	select {
	case d.logins <- nil:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff is exponential from MinBackoff, capped at MaxBackoff, drawn from
// the upper half so that a house full of speakers does not retry in step.
func (d *Device) backoff(failures int) time.Duration {
	b := d.cfg.MinBackoff
	for i := 1; i < failures && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.cfg.MaxBackoff)
	return b/2 + time.Duration(float64(b/2)*d.cfg.Jitter())
}
