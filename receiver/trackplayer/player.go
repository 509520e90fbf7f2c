// Package trackplayer is the receiver's Player: it turns the Connect state
// machine's Load, Prefetch, Pause, ... into audio. A Resolver (the track
// loader, built on the logged-in session) turns a URI into a stream, the
// audio player plays it, and the audio player's events come back to the
// state machine as connect events carrying the playback id.
//
// # Prefetch and the gapless hand-over
//
// Prefetch resolves the likely next item ahead. Once it is resolved and
// the current track is decoding, it is enqueued in the audio player, which
// follows the current track with it sample for sample. When the current
// track ends the state machine asks Load(newID, sameURI, 0, false): the
// item already playing (or about to) is adopted under the new playback id,
// without a reload, and TrackStarted is reported when its sound starts
// (or at once, if it started already). A Load of a prefetched URI at
// another position or while the current track still plays (a skip) plays
// the prefetched stream anew from that position. A Prefetch of another URI
// drops the old one: if it was enqueued and not yet decoding, an empty
// track is enqueued in its place, which the audio player cannot open and
// so ends its queue after the current track (it logs a warning for it).
// One already decoding (the current track's last buffer is playing) is
// heard after the current track until the state machine's Load, which
// follows the current track's end at once, replaces it.
//
// # Session
//
// The device hands over the session with UseSession after each chain is
// built and takes it back with UseSession(nil, nil). A load while there is
// no session waits for one for up to Config.SessionWait (1 min) and then
// reports the track unavailable with the reason "not connected to
// Spotify": a short reconnect loses nothing, and a long one does not hold
// the state machine in "buffering" for ever (it skips, bounded by its
// MaxFailures). Resolves under way when the session goes are cancelled and
// retried with the next session.
//
// # Wiring
//
// cmd builds the audio player's configuration as for `speakerbox play`
// (Gate and Observe from playback.Output) and passes it as Config.Audio;
// the Player builds the audio player, so Output.Attach takes the Player
// (its CloseOutput) and Output.Describe its Describe, which gives
// track_changed the metadata. The hooks runner goes to Config.Hooks too
// (loading, preloading, unavailable).
//
// # Memory
//
// The player holds at most the current item, one prefetch, and up to two
// items it let go until the audio player has moved past them (its next
// report on a later track, or at once on Stop). Every Loaded is closed
// when dropped and at Close.
package trackplayer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/speakerbox/speakerbox/audio/player"
	"github.com/speakerbox/speakerbox/receiver/apconn"
	"github.com/speakerbox/speakerbox/receiver/connect"
	"github.com/speakerbox/speakerbox/receiver/hooks"
	"github.com/speakerbox/speakerbox/receiver/spclient"
	"github.com/speakerbox/speakerbox/receiver/trackload"
)

// Resolver turns a track or episode URI into a stream ready to play
// (trackload.Loader is one). prefetch says the item is fetched ahead of
// need (storage-resolve's prefetch variant).
type Resolver interface {
	Load(ctx context.Context, uri string, prefetch bool) (*trackload.Loaded, error)
}

// Hooks runs the owner's commands on events (*hooks.Runner is one); Emit
// must not block.
type Hooks interface {
	Emit(hooks.Event)
}

// Config configures a Player. Audio and NewResolver are required.
type Config struct {
	// Audio configures the audio player the Player owns. Its Observe, if
	// set, sees the audio player's events with TrackID set to the item's
	// base62 id (the hooks' TRACK_ID) and without TrackError (the Player
	// reports unplayable items itself, as the "unavailable" hook):
	// playback.Output's Observe fits.
	Audio player.Config
	// NewResolver builds the resolver for a session (cmd passes one that
	// builds a trackload.Loader). If it fails, every load of that session
	// is reported unavailable with its error.
	NewResolver func(sp *spclient.Client, conn apconn.Conn) (Resolver, error)
	// Hooks gets loading, preloading and unavailable; nil: none.
	Hooks Hooks
	// SessionWait bounds how long a load waits for a session (1 min).
	SessionWait time.Duration
	// After is the clock of SessionWait (time.After).
	After func(time.Duration) <-chan time.Time
	Log   *slog.Logger

	// testNote, if set, is told of steps the tests wait for.
	testNote func(string)
}

// errNoSession is the reason given for a load that found no session.
var errNoSession = errors.New("not connected to Spotify")

// Player is the receiver's Player (receiver.Player and
// receiver.SessionUser). Its methods never block: they queue a command
// for the goroutine that owns the state.
type Player struct {
	cfg    Config
	log    *slog.Logger
	audio  *player.Player
	events chan connect.Event
	down   func(player.Event) // the caller's Audio.Observe

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once

	inMu  sync.Mutex
	inbox []command
	kick  chan struct{}

	resolved chan resolveResult
	pings    chan chan struct{} // Ping: the run goroutine closes what it finds here

	metaMu sync.Mutex
	metas  map[string]trackload.Meta // by base62 id: the current item and the prefetch

	// Owned by the run goroutine.
	resolver Resolver
	sessGen  uint64
	seq      uint64
	cur      *item
	next     *item
	retired  []*item
	outq     []connect.Event
	periodic bool // outq's last event is a periodic position
	deadline <-chan time.Time
	// published is what syncMeta last gave Describe.
	published [2]*trackload.Loaded
}

type cmdKind int

const (
	cmdLoad cmdKind = iota
	cmdPause
	cmdResume
	cmdSeek
	cmdStop
	cmdPrefetch
	cmdSession
)

type command struct {
	kind   cmdKind
	pb     string
	uri    string
	pos    int64
	paused bool
	sp     *spclient.Client
	conn   apconn.Conn
}

// New starts a Player; Close stops it.
func New(cfg Config) (*Player, error) {
	if cfg.NewResolver == nil {
		return nil, errors.New("trackplayer: Config.NewResolver is nil")
	}
	if cfg.SessionWait <= 0 {
		cfg.SessionWait = time.Minute
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Player{
		cfg:      cfg,
		log:      cfg.Log,
		events:   make(chan connect.Event, 64),
		down:     cfg.Audio.Observe,
		ctx:      ctx,
		cancel:   cancel,
		kick:     make(chan struct{}, 1),
		resolved: make(chan resolveResult),
		pings:    make(chan chan struct{}, 4),
		metas:    make(map[string]trackload.Meta),
	}
	ac := cfg.Audio
	ac.Observe = p.observe
	if ac.Logger == nil {
		ac.Logger = cfg.Log
	}
	a, err := player.NewPlayer(ac)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("trackplayer: %w", err)
	}
	p.audio = a
	p.wg.Add(1)
	go p.run()
	return p, nil
}

func (p *Player) post(c command) {
	if p.ctx.Err() != nil {
		return
	}
	p.inMu.Lock()
	p.inbox = append(p.inbox, c)
	p.inMu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Load loads uri and starts it at positionMs (held paused if paused);
// events about it carry playbackID.
func (p *Player) Load(playbackID, uri string, positionMs int64, paused bool) {
	p.post(command{kind: cmdLoad, pb: playbackID, uri: uri, pos: positionMs, paused: paused})
}

// Pause pauses the current item.
func (p *Player) Pause() { p.post(command{kind: cmdPause}) }

// Resume resumes the current item.
func (p *Player) Resume() { p.post(command{kind: cmdResume}) }

// SeekTo moves the current item to positionMs.
func (p *Player) SeekTo(positionMs int64) { p.post(command{kind: cmdSeek, pos: positionMs}) }

// Stop stops playback and drops the current and prefetched streams.
func (p *Player) Stop() { p.post(command{kind: cmdStop}) }

// Prefetch resolves uri ahead; a Prefetch of another URI replaces it.
func (p *Player) Prefetch(uri string) { p.post(command{kind: cmdPrefetch, uri: uri}) }

// SetVolume sets the output volume, 0..65535.
func (p *Player) SetVolume(volume uint32) { p.audio.SetVolume(uint16(min(volume, 65535))) }

// SetMaxVolume changes the software volume's cap, 0..100 percent
// (player.Player.SetMaxVolume).
func (p *Player) SetMaxVolume(percent int) { p.audio.SetMaxVolume(percent) }

// UseSession hands over the session loads go through; (nil, nil) takes
// it back (receiver.SessionUser).
func (p *Player) UseSession(sp *spclient.Client, conn apconn.Conn) {
	p.post(command{kind: cmdSession, sp: sp, conn: conn})
}

// Events delivers connect.TrackStarted, TrackPosition, TrackEnded and
// TrackUnavailable. The Player queues them without bound (positions are
// coalesced), so a busy reader never holds up the audio.
func (p *Player) Events() <-chan connect.Event { return p.events }

// CloseOutput closes an output kept open on silence (playback.Output's
// idle timeout calls it: the Player is what Output.Attach takes).
func (p *Player) CloseOutput() { p.audio.CloseOutput() }

// Describe is what track_changed says of the item with this base62 id, if
// it is the current or the prefetched one (playback.Output.Describe).
func (p *Player) Describe(trackID string) (hooks.Track, bool) {
	p.metaMu.Lock()
	m, ok := p.metas[trackID]
	p.metaMu.Unlock()
	if !ok {
		return hooks.Track{}, false
	}
	return hooks.Track{ID: trackID, URI: m.URI, Name: m.Name, Duration: time.Duration(m.DurationMs) * time.Millisecond,
		Artists: m.Artists, Album: m.Album, Number: m.Number, Explicit: m.Explicit, Covers: m.Covers}, true
}

// Close stops the Player: the loads under way, the audio player, and
// every stream it holds.
func (p *Player) Close() error {
	p.closed.Do(func() {
		p.cancel()
		p.wg.Wait()
		p.audio.Close()
		for _, it := range append([]*item{p.cur, p.next}, p.retired...) {
			if it != nil {
				it.close()
			}
		}
		p.cur, p.next, p.retired = nil, nil, nil
	})
	return nil
}

// observe is the audio player's Observe: the caller's sees the event with
// the base62 id, as the hooks want it.
func (p *Player) observe(ev player.Event) {
	if p.down == nil || ev.Type == player.TrackError {
		return
	}
	ev.TrackID, _ = splitAudioID(ev.TrackID)
	p.down(ev)
}

func (p *Player) note(s string) {
	if p.cfg.testNote != nil {
		p.cfg.testNote(s)
	}
}

// failedResolver fails every load with the error of its making.
type failedResolver struct{ err error }

func (f failedResolver) Load(context.Context, string, bool) (*trackload.Loaded, error) {
	return nil, f.err
}

// base62 is the id part of a Spotify URI (spotify:track:<id>).
func base62(uri string) string {
	if i := strings.LastIndexByte(uri, ':'); i >= 0 {
		return uri[i+1:]
	}
	return uri
}
