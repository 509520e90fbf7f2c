package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/internal/redact"
	"github.com/speakerbox/speakerbox/receiver/connect"
	"github.com/speakerbox/speakerbox/receiver/dealer"
	"github.com/speakerbox/speakerbox/receiver/hooks"
)

// Dealer message URIs the state machine takes.
const (
	uriCluster = "hm://connect-state/v1/cluster"
	uriVolume  = "hm://connect-state/v1/connect/volume"
	uriLogout  = "hm://connect-state/v1/connect/logout"
)

// tickEvery is how often the state machine is ticked while it wants ticks.
const tickEvery = time.Second

// errNoSession answers a load asked for while no chain is up.
var errNoSession = errors.New("not connected to Spotify")

type apDialResult struct {
	conn Conn
	err  error
}

type buildResult struct {
	ch  *chain
	err error
}

// loop is Run's state: one goroutine owns all of it. It is both the
// supervisor (access point login, building and dropping chains, backoff)
// and the thin loop that carries out the state machine's effects.
type loop struct {
	d   *Device
	log *slog.Logger

	state connect.State
	saver *volumeSaver

	login      *creds.Credentials
	conn       Conn
	dialing    chan apDialResult
	building   chan buildResult
	pendCancel context.CancelFunc // cancels the dial or build under way
	ch         *chain
	failures   int
	retry      <-chan time.Time
	clock      clockGate   // waits for a plausible wall clock (clockwait.go)
	dealerLost *time.Timer // armed while the chain's dealer is disconnected

	ticks    <-chan time.Time
	stopTick func()

	loadsCtx context.Context
	results  chan connect.Event
	loads    sync.WaitGroup

	inactive <-chan error // the last inactive call's result
	logout   bool         // a Logout effect is pending
}

// Run runs the device until ctx ends: it logs in with the credentials it
// has, keeps the chain of services up (rebuilding it with backoff when the
// access point or the dealer is lost) and carries out the app's commands.
// At the end it leaves the apps' device lists (the inactive call, bounded
// by ShutdownTimeout) and stops the player. Call it once.
func (d *Device) Run(ctx context.Context) error {
	if !d.ran.CompareAndSwap(false, true) {
		return errors.New("receiver: Device.Run called twice")
	}
	loadsCtx, cancelLoads := context.WithCancel(context.WithoutCancel(ctx))
	l := &loop{d: d, log: d.log, state: d.state, login: d.cfg.Credentials,
		loadsCtx: loadsCtx, results: make(chan connect.Event), saver: newVolumeSaver(d.cfg.StateDir, d.log)}
	defer func() {
		cancelLoads()
		l.loads.Wait()
		l.saver.close()
		d.state = l.state
		d.status.set(offlineStatus(l.state.Volume()))
		close(d.stopped)
	}()
	return l.run(ctx)
}

func (l *loop) run(ctx context.Context) error {
	d := l.d
	l.clockAtStart()
	playerEvents := d.cfg.Player.Events()
	local := d.cfg.LocalVolume
	defer l.stopTicks()
	for {
		if l.login != nil && l.conn == nil && l.dialing == nil && l.retry == nil {
			l.startDial(ctx)
		}
		// Here, not at the end of an iteration: every path (continue
		// included) comes back here after changing something.
		l.publishStatus()
		var connDone <-chan struct{}
		if l.conn != nil {
			connDone = l.conn.Done()
		}
		var dealerEvents <-chan dealer.Event
		var clockErr <-chan error
		if l.ch != nil {
			dealerEvents = l.ch.dealer.Events()
			clockErr = l.ch.clockErr
		}
		var lost <-chan time.Time
		if l.dealerLost != nil {
			lost = l.dealerLost.C
		}

		select {
		case <-ctx.Done():
			l.shutdown()
			return nil

		case c := <-d.logins:
			l.leave("new login from a phone")
			l.failures, l.retry = 0, nil
			l.login = c
			if c == nil {
				l.log.Info("logged out; waiting for a phone to connect")
			}

		case r := <-l.dialing:
			l.dialing = nil
			l.pendCancel()
			l.dialed(ctx, r)

		case r := <-l.building:
			l.building = nil
			l.pendCancel()
			if r.err != nil {
				l.log.Warn("could not reach Spotify's services", "err", r.err)
				d.stats.loginFailed(LoginFailedServices)
				l.dropConn()
				l.retryLater(r.err)
				continue
			}
			l.ch, l.failures = r.ch, 0
			l.useSession(l.ch)
			l.watchAutoplay(l.conn)
			l.log.Info("connected to Spotify's services; waiting for the dealer")

		case <-l.retry:
			l.retry = nil

		case <-connDone:
			l.log.Warn("connection to Spotify's access point lost; rebuilding")
			d.stats.reconnect(ReconnectAccessPoint)
			l.teardown()
			l.backoff()

		case <-lost:
			l.log.Warn("dealer lost for good; rebuilding", "after", d.cfg.DealerLostAfter)
			d.stats.reconnect(ReconnectChain)
			l.teardown()
			l.backoff()

		case err := <-clockErr:
			// The chain's TLS failed on the clock (checked at the
			// login, but it can be set back, or a certificate renewed,
			// since): drop the chain and wait for the clock as a login
			// would, rather than let the dealer or the publisher back
			// off against it.
			l.log.Info("dropping the connection to Spotify's services: a certificate is not valid by the system clock")
			d.stats.reconnect(ReconnectChain)
			l.teardown()
			l.retryLater(err)

		case ev, ok := <-dealerEvents:
			if !ok {
				// Only our stop closes it; treat as lost all the same.
				l.teardown()
				l.backoff()
				continue
			}
			l.dealerEvent(ev)

		case ev, ok := <-playerEvents:
			if !ok {
				playerEvents = nil
				continue
			}
			switch ev.(type) {
			case connect.TrackStarted, connect.TrackPosition, connect.TrackEnded, connect.TrackUnavailable:
				l.apply(l.step(ev), nil)
			default:
				l.log.Warn("ignoring a player event of unknown type")
			}

		case v, ok := <-local:
			if !ok {
				local = nil
				continue
			}
			l.apply(l.step(connect.LocalVolume{Volume: v}), nil)

		case ev := <-l.results:
			l.apply(l.step(ev), nil)

		case <-l.ticks:
			l.apply(l.step(connect.Tick{}), nil)

		case r := <-d.controls:
			l.control(r)

		case <-d.pings:
			// Answered by being taken: the loop is alive.
		}
		if l.logout {
			l.logout = false
			user := ""
			if l.ch != nil {
				user = l.ch.username
			}
			l.log.Info("logged out from an app; waiting for a phone to connect", "user", redact.Username(user))
			l.waitInactive()
			l.teardown()
			l.login, l.retry, l.failures = nil, nil, 0
			if d.cfg.LoggedOut != nil {
				d.cfg.LoggedOut(user)
			}
		}
		l.syncTicks()
	}
}

func (l *loop) startDial(ctx context.Context) {
	if l.clockHolds() {
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	l.pendCancel = cancel
	ch := make(chan apDialResult, 1)
	l.dialing = ch
	cr := *l.login
	l.log.Info("logging in to Spotify", "user", redact.Username(cr.Username), "attempt", l.failures+1)
	go func() {
		c, err := l.d.cfg.Dialer.Dial(pctx, cr)
		ch <- apDialResult{c, err}
	}()
}

func (l *loop) dialed(ctx context.Context, r apDialResult) {
	d := l.d
	if r.err != nil {
		var rej *RejectedError
		if errors.As(r.err, &rej) {
			d.stats.loginFailed(rej.Reason)
			l.log.Error("Spotify refused the login; waiting for new credentials from a phone",
				"user", redact.Username(l.login.Username), "reason", rej.Reason)
			if d.cfg.Rejected != nil {
				if err := d.cfg.Rejected(*l.login); err != nil {
					l.log.Error("could not drop the refused credentials", "err", err)
				}
			}
			l.login = nil
			return
		}
		l.log.Warn("login failed; will retry", "err", r.err)
		d.stats.loginFailed(LoginFailedAccessPoint)
		l.retryLater(r.err)
		return
	}
	l.conn = r.conn
	used := *l.login
	reusable := r.conn.Reusable()
	if reusable.Username == "" {
		reusable.Username = r.conn.Username()
	}
	if d.cfg.Accepted != nil {
		if err := d.cfg.Accepted(used, reusable); err != nil {
			l.log.Error("could not store the accepted credentials", "err", err)
		}
	}
	if len(reusable.AuthData) > 0 {
		l.login = &reusable
	}
	l.log.Info("logged in to Spotify", "user", redact.Username(r.conn.Username()))

	pctx, cancel := context.WithCancel(ctx)
	l.pendCancel = cancel
	ch := make(chan buildResult, 1)
	l.building = ch
	conn := r.conn
	go func() {
		c, err := d.buildChain(pctx, conn, used)
		ch <- buildResult{c, err}
	}()
}

// backoff schedules the next login attempt.
func (l *loop) backoff() {
	l.failures++
	wait := l.d.backoff(l.failures)
	l.log.Warn("reconnecting to Spotify later", "retry_in", wait.Round(time.Millisecond), "failures", l.failures)
	l.retry = l.d.cfg.After(wait)
}

// dropConn closes the access point connection off this goroutine: Close
// may block while the connection is mid-reconnect (go-librespot v0.7.4).
func (l *loop) dropConn() {
	if l.conn != nil {
		go l.conn.Close()
		l.conn = nil
	}
}

// teardown drops the chain and the access point connection; the Connect
// state stays, and the next chain publishes it with its first connection id.
func (l *loop) teardown() {
	if l.pendCancel != nil {
		l.pendCancel()
	}
	if l.dialing != nil {
		go func(ch chan apDialResult) {
			if r := <-ch; r.conn != nil {
				r.conn.Close()
			}
		}(l.dialing)
		l.dialing = nil
	}
	if l.building != nil {
		go func(ch chan buildResult) {
			if r := <-ch; r.ch != nil {
				r.ch.stop()
			}
		}(l.building)
		l.building = nil
	}
	if l.ch != nil {
		l.useSession(nil)
		l.ch.stop()
		if l.ch.connected {
			l.hook(hooks.Session(false, l.ch.connID, l.ch.username))
		}
		l.ch = nil
	}
	l.stopDealerLost()
	l.dropConn()
	l.inactive = nil
}

// useSession hands the player the chain's session, or takes it back (nil),
// if the player loads through it.
func (l *loop) useSession(ch *chain) {
	su, ok := l.d.cfg.Player.(SessionUser)
	if !ok {
		return
	}
	if ch == nil {
		su.UseSession(nil, nil)
		return
	}
	su.UseSession(ch.sp, l.conn)
}

// watchAutoplay reads the account's autoplay setting from the product
// info the access point sends after the login (the "autoplay" attribute,
// "1" or "0", as the apps set it) and hands it to the state machine, which
// follows it unless the autoplay key overrides it. Without the attribute
// the state machine keeps its default (on, as the apps' own default).
func (l *loop) watchAutoplay(conn Conn) {
	if conn == nil {
		return
	}
	l.loads.Add(1)
	go func() {
		defer l.loads.Done()
		ctx, cancel := context.WithTimeout(l.loadsCtx, time.Minute)
		defer cancel()
		p, err := conn.Product(ctx)
		if err != nil {
			return // lost or not sent: the default stands
		}
		v, ok := p.Fields["autoplay"]
		if !ok {
			return
		}
		select {
		case l.results <- connect.AutoplaySetting{On: v == "1" || v == "true"}:
		case <-l.loadsCtx.Done():
		}
	}()
}

// leave tells the apps we are gone (the user changes or logs out), then
// tears down.
func (l *loop) leave(why string) {
	if l.ch != nil || l.state.Active() {
		l.log.Info("leaving the Connect session", "why", why)
	}
	l.apply(l.step(connect.Shutdown{}), nil)
	l.waitInactive()
	l.teardown()
}

func (l *loop) shutdown() {
	l.leave("shutting down")
	// A dial still under way is abandoned by teardown; the player stops.
	l.d.cfg.Player.Stop()
}

// waitInactive waits, bounded, for the inactive call the last step queued.
func (l *loop) waitInactive() {
	if l.inactive == nil {
		return
	}
	t := time.NewTimer(l.d.cfg.ShutdownTimeout)
	defer t.Stop()
	select {
	case err := <-l.inactive:
		if err != nil {
			l.log.Warn("the inactive call failed; the apps drop us after a while anyway", "err", err)
		}
	case <-t.C:
		l.log.Warn("the inactive call did not finish in time", "timeout", l.d.cfg.ShutdownTimeout)
	}
	l.inactive = nil
}

func (l *loop) stopDealerLost() {
	if l.dealerLost != nil {
		l.dealerLost.Stop()
		l.dealerLost = nil
	}
}

func (l *loop) dealerEvent(ev dealer.Event) {
	switch ev := ev.(type) {
	case dealer.ConnectionID:
		l.stopDealerLost()
		if !l.ch.connected {
			l.ch.connected = true
			l.hook(hooks.Session(true, ev.ID, l.ch.username))
		}
		l.ch.connID = ev.ID
		l.log.Info("dealer connection named; registering the device")
		l.ch.pub.SetConnectionID(ev.ID)
		l.apply(l.step(connect.ConnectionID{ID: ev.ID}), nil)

	case dealer.Disconnected:
		l.log.Warn("dealer disconnected; it reconnects by itself", "err", ev.Err)
		l.d.stats.reconnect(ReconnectDealer)
		l.ch.pub.SetConnectionID("")
		if l.dealerLost == nil {
			l.dealerLost = time.NewTimer(l.d.cfg.DealerLostAfter)
		}

	case dealer.Message:
		var in connect.Event
		switch {
		case strings.HasPrefix(ev.URI, uriCluster):
			in = connect.ClusterMessage{Payload: ev.Payload}
		case strings.HasPrefix(ev.URI, uriVolume):
			in = connect.VolumeMessage{Payload: ev.Payload}
		case strings.HasPrefix(ev.URI, uriLogout):
			in = connect.LogoutMessage{}
		default:
			l.log.Debug("ignoring a dealer message", "uri", ev.URI)
			return
		}
		effs := l.step(in)
		if len(effs) == 0 {
			l.log.Debug("dealer message changed nothing", "uri", ev.URI, "bytes", len(ev.Payload))
		}
		l.apply(effs, nil)

	case dealer.Request:
		if ev.Ident != "" && !strings.HasPrefix(ev.Ident, "hm://connect-state/v1/player/command") {
			l.log.Warn("refusing a dealer request of unknown kind", "ident", ev.Ident)
			ev.Reply(false)
			return
		}
		payload, err := json.Marshal(struct {
			MessageID uint32          `json:"message_id"`
			SentBy    string          `json:"sent_by_device_id"`
			Command   json.RawMessage `json:"command"`
		}{ev.MessageID, ev.SentBy, ev.Command})
		if err != nil || len(ev.Command) == 0 {
			l.log.Warn("refusing a dealer request without a usable command", "key", ev.Key)
			ev.Reply(false)
			return
		}
		effs := l.step(connect.Request{Key: ev.Key, Payload: payload})
		replied := false
		l.apply(effs, func(ok bool) {
			replied = true
			if !ok {
				l.log.Info("command refused", "endpoint", ev.Endpoint, "key", ev.Key)
			}
			ev.Reply(ok)
		})
		if !replied {
			ev.Reply(false) // the state machine always replies; belt and braces
		}
	}
}

func (l *loop) step(ev connect.Event) []connect.Effect {
	var effs []connect.Effect
	l.state, effs = connect.Step(l.state, connect.Input{Now: l.d.cfg.Now(), Event: ev})
	return effs
}

func (l *loop) hook(ev hooks.Event) {
	if l.d.cfg.Hooks != nil {
		l.d.cfg.Hooks.Emit(ev)
	}
}

// apply carries out effects in order; reply answers the request the step
// took, if any.
func (l *loop) apply(effs []connect.Effect, reply func(bool)) {
	p := l.d.cfg.Player
	for _, e := range effs {
		switch e := e.(type) {
		case connect.Reply:
			if reply != nil {
				reply(e.Success)
				reply = nil
			}
		case connect.Hook:
			l.hook(e.Event)
		case connect.PlayerLoad:
			p.Load(e.PlaybackID, e.URI, e.PositionMs, e.Paused)
		case connect.PlayerPause:
			p.Pause()
		case connect.PlayerResume:
			p.Resume()
		case connect.PlayerSeek:
			p.SeekTo(e.PositionMs)
		case connect.PlayerStop:
			p.Stop()
		case connect.PlayerSetVolume:
			p.SetVolume(e.Volume)
		case connect.PlayerPrefetch:
			p.Prefetch(e.URI)
		case connect.LoadContext, connect.LoadPage, connect.LoadAutoplay:
			l.load(e)
		case connect.Publish:
			// The publisher holds the connection id itself (set before the
			// step that made this), and holds PUTs while there is none.
			if l.ch != nil {
				l.ch.pub.Publish(e.Request)
			}
		case connect.PublishInactive:
			if l.ch != nil {
				l.inactive = l.ch.pub.Inactive()
			}
		case connect.GaveUp:
			l.log.Warn("stopped: tracks in a row could not be played; pick something else in the app",
				"tracks", e.Failures, "last_reason", e.Reason)
		case connect.AmplifierIdle:
			if l.d.cfg.Amp != nil {
				l.d.cfg.Amp.Idle()
			}
		case connect.SaveVolume:
			l.saver.save(e.Volume)
		case connect.Logout:
			l.logout = true
		case connect.LocalReply:
			// Answered by control, which took it from the step.
		}
	}
}

// load runs a fetch in its own goroutine with a deadline and feeds the
// result back; the state machine ignores results it no longer waits for.
func (l *loop) load(e connect.Effect) {
	ch := l.ch
	l.loads.Add(1)
	go func() {
		defer l.loads.Done()
		ctx, cancel := context.WithTimeout(l.loadsCtx, l.d.cfg.LoadTimeout)
		defer cancel()
		var res connect.Event
		switch e := e.(type) {
		case connect.LoadContext:
			r := connect.ContextLoaded{ID: e.ID, Err: errNoSession}
			if ch != nil {
				r.Context, r.Err = ch.sp.ResolveContext(ctx, e.URI)
			}
			res = r
		case connect.LoadPage:
			r := connect.PageLoaded{ID: e.ID, Err: errNoSession}
			if ch != nil {
				r.Page, r.Err = ch.sp.ContextPage(ctx, e.URL)
			}
			res = r
		case connect.LoadAutoplay:
			r := connect.AutoplayLoaded{ID: e.ID, Err: errNoSession}
			if ch != nil {
				r.Context, r.Err = ch.sp.Autoplay(ctx, e.Request)
			}
			res = r
		}
		select {
		case l.results <- res:
		case <-l.loadsCtx.Done():
		}
	}()
}

// syncTicks starts or stops the ticker as the state machine wants.
func (l *loop) syncTicks() {
	want := l.state.WantsTick()
	if want && l.ticks == nil {
		l.ticks, l.stopTick = l.d.cfg.NewTicker(tickEvery)
	} else if !want && l.ticks != nil {
		l.stopTicks()
	}
}

func (l *loop) stopTicks() {
	if l.stopTick != nil {
		l.stopTick()
	}
	l.ticks, l.stopTick = nil, nil
}
