// Package player drives the audio chain for one output: it decodes the
// current track into a lock-free ring on one goroutine (the producer) and
// moves the ring to the sink on another (the output), applying gain and
// format conversion there so that volume changes are heard at once. It
// reports what was played as events. The receiver and `speakerbox play`
// use it the same way.
//
// # The order of events
//
// The order in which events are reported is the order in which things
// happened at the device, by design rather than by scheduling:
//
//   - The output goroutine calls the gate and sends every event about the
//     device and about what is heard (SinkOpened, TrackStarted, Position,
//     Paused, Resumed, TrackEnded, EndOfQueue, Sink*Closed, OutputError) at
//     the moment it happens, so their order on the channel is the order of
//     the device's life: Gate.BeforeOpen returns, then SinkOpened, then
//     TrackStarted once the first period is written (sound is leaving the
//     device: that is what TrackStarted, and the "playing" a Connect client
//     is shown, mean), ... Paused, then the device closes and
//     Gate.AfterClose returns, then SinkTemporarilyClosed.
//   - The gate's effects (amplifier on, sink hooks) happen inside the gate
//     call, on that same goroutine. Glue that turns events into side
//     effects ordered with the gate's (hook events) takes them from
//     Config.Observe, which runs on the goroutine that emits the event,
//     before it is sent: the gate's effects and the events' effects are
//     then produced by one goroutine, in the order they happened, and a
//     FIFO behind it (the hooks' queue) keeps that order. Reading Events
//     on another goroutine gives the same order among events, but no
//     order against the gate's effects.
//   - TrackDecoding and TrackError come from the decoder, which works
//     ahead of the device: they say what was decoded, not what was heard.
package player

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/gain"
	"github.com/speakerbox/speakerbox/audio/ring"
)

// Config configures a Player.
type Config struct {
	// Sink is the output; the player opens it when there is sound and
	// closes it while paused without KeepOutputOpen, and reopens the same
	// sink afterwards. NewSink, if set instead, makes a fresh sink for
	// every open.
	Sink    audio.Sink
	NewSink func() (audio.Sink, error)
	// Gate, if set, is asked before the sink opens and told after it closes.
	Gate audio.Gate
	// Sample is the sample format asked of the sink (it may choose another);
	// 0 means S16_LE.
	Sample audio.SampleFormat
	// Dither adds TPDF dither when the output is 16-bit.
	Dither bool
	// Buffer is the ring buffer's length (default 500ms).
	Buffer time.Duration
	// Period is how much audio is moved to the sink at a time (default 20ms).
	Period time.Duration
	// Volume maps the Connect volume to gain; Normalisation sets loudness
	// normalisation.
	Volume        gain.Volume
	Normalisation gain.Normalisation
	// InitialVolume is the Connect volume (0..65535) at start.
	InitialVolume uint16
	// HardwareVolume passes the volume to the sink (an ALSA mixer) when it
	// implements audio.HardwareVolume, instead of scaling samples.
	HardwareVolume bool
	// KeepOutputOpen keeps the device open and running on silence while
	// paused or after the queue ended, until CloseOutput or Close. Many DACs
	// and amplifiers pop when their stream stops; the price is that the
	// device (and whatever it powers) never idles while the amplifier is on.
	KeepOutputOpen bool
	// Ramp is how long a gain change takes (default 5ms).
	Ramp time.Duration
	// PositionInterval is how often, in played audio, Position events are
	// sent (default 1s).
	PositionInterval time.Duration
	// Observe, if set, sees every event before it is sent on Events, on the
	// goroutine where it happened (see "The order of events"): the output's
	// for what concerns the device, the decoder's for TrackDecoding and
	// TrackError. It must be safe for concurrent use and must not block:
	// the audio waits for it.
	Observe func(Event)
	// Tick paces the silence written while paused with KeepOutputOpen;
	// default time.NewTicker. Tests inject their own.
	Tick   func(d time.Duration) (c <-chan time.Time, stop func())
	Logger *slog.Logger
}

// maxRate bounds the ring size computation (the ring is sized once).
const maxRate = 48000

// Player plays a queue of tracks on one output.
type Player struct {
	cfg    Config
	log    *slog.Logger
	ring   *ring.Ring
	events chan Event
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	cmds     chan command
	prodKick chan struct{} // wakes the producer out of a blocked ring write
	outKick  chan struct{} // wakes the output out of a blocked ring read or idle wait

	// Liveness pings (Ping): each goroutine closes the channels it finds
	// here at the top of its loop.
	prodPing chan chan struct{}
	outPing  chan chan struct{}

	table table // what the ring holds, by track

	// flushReq counts the commands that drop what is buffered (Load, Seek,
	// Stop). The output plays nothing while the producer has not yet
	// carried out the latest one, so that no stale audio is heard after
	// the call returns.
	flushReq    atomic.Uint64
	paused      atomic.Bool
	closeOutput atomic.Bool
	volume      atomic.Uint32 // Connect volume
	volumeGen   atomic.Uint64
	maxPercent  atomic.Int32 // Config.Volume.MaxPercent until SetMaxVolume

	stats counters // for Stats (stats.go)

	posMu  sync.Mutex
	posID  string
	posMs  int64
	closed atomic.Bool
}

type cmdKind int

const (
	cmdLoad cmdKind = iota
	cmdEnqueue
	cmdSeek
	cmdSeekFrame // from the output, after a pause dropped the device's audio
	cmdStop
)

type command struct {
	gen   uint64 // flush generation (Load, Seek, Stop)
	kind  cmdKind
	track Track
	ms    int64
	frame int64 // cmdSeekFrame
}

// NewPlayer starts a player. Close stops it.
func NewPlayer(cfg Config) (*Player, error) {
	if cfg.NewSink == nil && cfg.Sink != nil {
		s := cfg.Sink
		cfg.NewSink = func() (audio.Sink, error) { return s, nil }
	}
	if cfg.NewSink == nil {
		return nil, errors.New("player: no sink")
	}
	if cfg.Sample == 0 {
		cfg.Sample = audio.S16LE
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 500 * time.Millisecond
	}
	if cfg.Period <= 0 {
		cfg.Period = 20 * time.Millisecond
	}
	if cfg.Period > cfg.Buffer/2 {
		return nil, fmt.Errorf("player: period %v too long for buffer %v", cfg.Period, cfg.Buffer)
	}
	if cfg.Ramp <= 0 {
		cfg.Ramp = 5 * time.Millisecond
	}
	if cfg.PositionInterval <= 0 {
		cfg.PositionInterval = time.Second
	}
	if cfg.Tick == nil {
		cfg.Tick = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Player{
		cfg:      cfg,
		log:      cfg.Logger,
		ring:     ring.New(ring.Samples(cfg.Buffer, maxRate, 2)),
		events:   make(chan Event, 256),
		ctx:      ctx,
		cancel:   cancel,
		cmds:     make(chan command, 64),
		prodKick: make(chan struct{}, 1),
		outKick:  make(chan struct{}, 1),
		prodPing: make(chan chan struct{}, 4),
		outPing:  make(chan chan struct{}, 4),
	}
	p.volume.Store(uint32(cfg.InitialVolume))
	p.maxPercent.Store(int32(cfg.Volume.MaxPercent))
	p.paused.Store(true)
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		(&producer{p: p, buf: make([]float32, 4096)}).run()
	}()
	go p.output()
	return p, nil
}

// Events delivers what happens. The caller must keep reading it: the player
// waits for room for every event except Position and Xrun, which are dropped
// when nobody reads. It is closed by Close.
func (p *Player) Events() <-chan Event { return p.events }

func (p *Player) emit(e Event) {
	if p.cfg.Observe != nil {
		p.cfg.Observe(e)
	}
	if e.Type == Position || e.Type == Xrun {
		select {
		case p.events <- e:
		default:
		}
		return
	}
	select {
	case p.events <- e:
	case <-p.ctx.Done():
	}
}

func kick(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (p *Player) send(c command) {
	if p.closed.Load() {
		return
	}
	select {
	case p.cmds <- c:
	case <-p.ctx.Done():
		return
	}
	kick(p.prodKick)
}

func (p *Player) setPosition(id string, ms int64) {
	p.posMu.Lock()
	p.posID, p.posMs = id, ms
	p.posMu.Unlock()
}

// Position is the track and played position last known.
func (p *Player) Position() (trackID string, ms int64) {
	p.posMu.Lock()
	defer p.posMu.Unlock()
	return p.posID, p.posMs
}

// Load replaces whatever plays with t from positionMs; play says whether to
// start playing or stay paused there. The queued next track is dropped.
func (p *Player) Load(t Track, play bool, positionMs int64) {
	p.paused.Store(!play)
	p.setPosition(t.ID, positionMs)
	p.send(command{kind: cmdLoad, track: t, ms: positionMs, gen: p.flushReq.Add(1)})
	kick(p.outKick)
}

// Enqueue sets the track that follows the current one without a gap
// (replacing any queued one). If nothing is playing, it starts at once.
func (p *Player) Enqueue(next Track) { p.send(command{kind: cmdEnqueue, track: next}) }

// Play resumes playback.
func (p *Player) Play() { p.paused.Store(false); kick(p.outKick) }

// Pause stops the sound at once: the output drops what the device holds and
// has the decoder go back to the first sample not heard, so that Play
// resumes exactly there and no sample is lost or repeated.
func (p *Player) Pause() { p.paused.Store(true); kick(p.outKick) }

// SeekMs jumps to ms in the track being heard; nothing from before the
// seek is heard afterwards. (Not named Seek: that name promises io.Seeker.)
func (p *Player) SeekMs(ms int64) {
	id, _ := p.Position()
	p.setPosition(id, ms)
	p.send(command{kind: cmdSeek, ms: ms, gen: p.flushReq.Add(1)})
}

// Stop drops the current and queued tracks and what is buffered.
func (p *Player) Stop() { p.send(command{kind: cmdStop, gen: p.flushReq.Add(1)}) }

// SetVolume sets the Connect volume (0..65535); the gain glides there.
func (p *Player) SetVolume(v uint16) {
	p.volume.Store(uint32(v))
	p.volumeGen.Add(1)
	kick(p.outKick)
}

// SetMaxVolume changes the software volume's cap (gain.Volume.MaxPercent,
// 1..100; 0 means 100) while playing: the top of the slider plays as loud
// as percent did, and the gain glides there as on SetVolume. A hardware
// mixer takes the volume as it is; there the cap is the caller's.
func (p *Player) SetMaxVolume(percent int) {
	p.maxPercent.Store(int32(min(max(percent, 0), 100)))
	p.volumeGen.Add(1)
	kick(p.outKick)
}

// CloseOutput closes a device kept open while paused (the amplifier's idle
// timeout ran out). It reopens when playback resumes.
func (p *Player) CloseOutput() { p.closeOutput.Store(true); kick(p.outKick) }

// BufferFill is how much audio waits in the ring (for metrics).
func (p *Player) BufferFill() int { return p.ring.Len() }

// ErrClosed is what Ping returns once the player is closed.
var ErrClosed = errors.New("player: closed")

// Ping returns once both of the player's goroutines have come round their
// loops, which proves that neither is stuck: the decoder (in a read of the
// track's source, say) and the output (in the sink, the gate, or an event
// nobody takes). It wakes them from their waits, so an idle or paused
// player answers at once. When ctx ends first it returns an error that
// wraps ctx's and names the goroutines that did not answer; a systemd
// watchdog asks it.
func (p *Player) Ping(ctx context.Context) error {
	type asked struct {
		name string
		r    chan struct{}
	}
	var waits [2]asked
	for i, q := range [...]struct {
		name string
		req  chan chan struct{}
		wake chan struct{}
	}{{"decoder", p.prodPing, p.prodKick}, {"output", p.outPing, p.outKick}} {
		r := make(chan struct{})
		select {
		case q.req <- r:
		default:
			// Earlier pings still wait there: the goroutine is not
			// coming round. Wait for room as long as ctx allows.
			select {
			case q.req <- r:
			case <-ctx.Done():
				return fmt.Errorf("player: the %s did not answer: %w", q.name, ctx.Err())
			case <-p.ctx.Done():
				return ErrClosed
			}
		}
		kick(q.wake)
		waits[i] = asked{q.name, r}
	}
	for _, w := range waits {
		select {
		case <-w.r:
			continue
		case <-p.ctx.Done():
			return ErrClosed
		case <-ctx.Done():
		}
		var silent []string
		for _, w := range waits {
			select {
			case <-w.r:
			default:
				silent = append(silent, w.name)
			}
		}
		if len(silent) == 0 {
			return nil // both answered as ctx ended
		}
		return fmt.Errorf("player: the %s did not answer: %w", strings.Join(silent, " and the "), ctx.Err())
	}
	return nil
}

// answerPings answers every ping waiting in c; it never blocks and
// allocates nothing (the output calls it every period).
func answerPings(c chan chan struct{}) {
	for {
		select {
		case r := <-c:
			close(r)
		default:
			return
		}
	}
}

// Close stops the player, closes the output and waits for its goroutines.
func (p *Player) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	p.cancel()
	p.ring.Close()
	kick(p.prodKick)
	kick(p.outKick)
	p.wg.Wait()
	close(p.events)
	return nil
}

// segment is a stretch of the ring that holds one track (or one track from
// a seek position on).
type segment struct {
	seq        uint64 // unique per segment
	instance   uint64 // unique per loaded track; the same across seeks
	track      Track
	start, end uint64 // ring indices; end == openEnd while being written
	rate, ch   int
	norm       float32
	firstFrame int64 // the track's frame at start
	frames     int64 // the track's length
	failed     bool
}

const openEnd = math.MaxUint64

// table is the shared map from ring indices to tracks. The producer adds
// and ends segments; the output looks them up once per period and removes
// the ones it has played.
type table struct {
	mu       sync.Mutex
	segs     []segment
	flushGen uint64
}
