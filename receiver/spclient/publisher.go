package spclient

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
	"google.golang.org/protobuf/proto"
)

// StateSender is the part of Client the Publisher uses.
type StateSender interface {
	PutState(ctx context.Context, connectionID string, req *connectpb.PutStateRequest) (*connectpb.Cluster, error)
	Inactive(ctx context.Context, connectionID string) error
}

// Timer is the part of *time.Timer the Publisher uses, so that tests drive
// it with a fake clock.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

// Publisher defaults.
const (
	DefaultMinInterval    = 200 * time.Millisecond
	DefaultRateLimitWait  = 10 * time.Second // a 429 without Retry-After
	DefaultRequestTimeout = 10 * time.Second
	publishMinRetry       = time.Second
	publishMaxRetry       = time.Minute
)

// ErrPublisherStopped completes an Inactive call that Run did not get to.
var ErrPublisherStopped = errors.New("spclient: publisher stopped")

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	Sender StateSender
	Log    *slog.Logger
	// MinInterval spaces the calls (default DefaultMinInterval).
	MinInterval time.Duration
	// RateLimitWait is the cooldown after a 429 without Retry-After
	// (default DefaultRateLimitWait).
	RateLimitWait time.Duration
	// RequestTimeout bounds one call with its retries (default
	// DefaultRequestTimeout).
	RequestTimeout time.Duration
	// Now and NewTimer are the clock (time.Now and time.NewTimer by default).
	Now      func() time.Time
	NewTimer func(d time.Duration) Timer
	// Cluster, if set, gets the Cluster of every accepted PUT, on Run's
	// goroutine; it must not block.
	Cluster func(*connectpb.Cluster)
	// Stats, if set, counts the calls and their outcomes (stats.go).
	Stats *PublisherStats
	// Failed, if set, is told of every failed call (on Run's goroutine;
	// it must not block or call back into the publisher). When it returns
	// true the failure is its owner's business: the call stays queued,
	// logged at debug level only, and nothing more is sent until Run
	// ends. The receiver takes certificate-time errors so, to drop the
	// chain and wait for the clock rather than retry against it.
	Failed func(err error) bool
}

// Publisher sends the device state to connect-state from one goroutine (Run):
// calls at least MinInterval apart, the latest state winning over any state
// not yet sent, a 429 cooling down for its Retry-After before the latest
// state goes out, the inactive call in order with the PUTs, and the first
// PUT on every dealer connection id sent with reason NEW_DEVICE. Its methods
// never block on the network and are safe for concurrent use.
type Publisher struct {
	sender        StateSender
	log           *slog.Logger
	minInterval   time.Duration
	rateLimitWait time.Duration
	timeout       time.Duration
	now           func() time.Time
	newTimer      func(time.Duration) Timer
	onCluster     func(*connectpb.Cluster)
	stats         *PublisherStats
	failed        func(error) bool

	wake chan struct{} // cap 1: "the queue or the connection id changed"

	mu         sync.Mutex
	queue      []*publishOp
	latest     *connectpb.PutStateRequest // the newest state ever handed over
	connID     string
	registered string // the connection id a NEW_DEVICE PUT succeeded on
	lastSend   time.Time
	notBefore  time.Time // cooldown after a 429 or a failure
	failures   int
	stopped    bool
	held       bool // Failed took a failure: send nothing more
}

// publishOp is one queued call: a PUT of req, or the inactive call.
type publishOp struct {
	inactive bool
	req      *connectpb.PutStateRequest
	newDev   bool         // send with reason NEW_DEVICE whatever req says
	waiters  []chan error // inactive calls waiting for the result
}

// NewPublisher checks cfg and returns a Publisher; start it with Run.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if cfg.Sender == nil {
		return nil, errors.New("spclient: PublisherConfig.Sender is nil")
	}
	p := &Publisher{
		sender:        cfg.Sender,
		log:           cfg.Log,
		minInterval:   cfg.MinInterval,
		rateLimitWait: cfg.RateLimitWait,
		timeout:       cfg.RequestTimeout,
		now:           cfg.Now,
		newTimer:      cfg.NewTimer,
		onCluster:     cfg.Cluster,
		stats:         cfg.Stats,
		failed:        cfg.Failed,
		wake:          make(chan struct{}, 1),
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.minInterval <= 0 {
		p.minInterval = DefaultMinInterval
	}
	if p.rateLimitWait <= 0 {
		p.rateLimitWait = DefaultRateLimitWait
	}
	if p.timeout <= 0 {
		p.timeout = DefaultRequestTimeout
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.newTimer == nil {
		p.newTimer = func(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }
	}
	return p, nil
}

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

func (p *Publisher) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Publish hands over the full device state to send, with its
// put_state_reason. It replaces any state not yet sent. The Publisher owns
// req from now on: the caller must not modify it. A nil req is ignored.
func (p *Publisher) Publish(req *connectpb.PutStateRequest) {
	if req == nil {
		return
	}
	p.mu.Lock()
	p.latest = req
	if n := len(p.queue); n > 0 && !p.queue[n-1].inactive {
		p.queue[n-1].req = req
	} else {
		p.queue = append(p.queue, &publishOp{req: req})
	}
	p.mu.Unlock()
	p.signal()
}

// SetConnectionID sets the dealer connection id the calls carry. Call it on
// every id the dealer announces: on a new id the latest state is sent again
// with reason NEW_DEVICE (before anything else queued), since Spotify knows
// nothing of the device on that connection yet. "" holds the PUTs until the
// next id.
func (p *Publisher) SetConnectionID(id string) {
	p.mu.Lock()
	if id == p.connID {
		p.mu.Unlock()
		return
	}
	p.connID = id
	if id != "" && p.latest != nil {
		if len(p.queue) > 0 && !p.queue[0].inactive {
			p.queue[0].newDev = true
		} else {
			p.queue = append([]*publishOp{{req: p.latest, newDev: true}}, p.queue...)
		}
	}
	p.mu.Unlock()
	p.signal()
}

// Inactive queues the inactive call after the PUTs queued before it. The
// channel (buffered) receives its result: nil, the call's error,
// ErrNoConnectionID when there is no connection to be inactive on, or
// ErrPublisherStopped. Shutdown waits on it before stopping Run.
func (p *Publisher) Inactive() <-chan error {
	ch := make(chan error, 1)
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		ch <- ErrPublisherStopped
		return ch
	}
	if n := len(p.queue); n > 0 && p.queue[n-1].inactive {
		p.queue[n-1].waiters = append(p.queue[n-1].waiters, ch)
	} else {
		p.queue = append(p.queue, &publishOp{inactive: true, waiters: []chan error{ch}})
	}
	p.mu.Unlock()
	p.signal()
	return ch
}

// Run sends the queued calls until ctx is done; it is the only goroutine
// that talks to the network. Call it once.
func (p *Publisher) Run(ctx context.Context) error {
	var (
		timer    Timer
		timerDue time.Time
	)
	stopTimer := func() {
		if timer != nil {
			timer.Stop()
			timer = nil
		}
	}
	defer func() {
		stopTimer()
		p.mu.Lock()
		p.stopped = true
		for _, op := range p.queue {
			finish(op, ErrPublisherStopped)
		}
		p.queue = nil
		p.mu.Unlock()
	}()
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.mu.Lock()
		due, ready := p.dueLocked()
		now := p.now()
		var op *publishOp
		var connID string
		if ready && !due.After(now) {
			op, p.queue = p.queue[0], p.queue[1:]
			connID = p.connID
			if !op.inactive && connID != p.registered {
				op.newDev = true
			}
			p.lastSend = now
		}
		p.mu.Unlock()

		if op != nil {
			stopTimer()
			p.send(ctx, op, connID)
			continue
		}
		var tc <-chan time.Time
		if ready {
			if timer == nil || !timerDue.Equal(due) {
				stopTimer()
				timer, timerDue = p.newTimer(due.Sub(now)), due
			}
			tc = timer.C()
		} else {
			stopTimer()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.wake:
		case <-tc:
			timer = nil
		}
	}
}

// dueLocked says whether the head of the queue can be sent and from when.
// An inactive call without a connection id is answered here, since there is
// nothing to be inactive on.
func (p *Publisher) dueLocked() (time.Time, bool) {
	for len(p.queue) > 0 && p.queue[0].inactive && p.connID == "" {
		finish(p.queue[0], ErrNoConnectionID)
		p.queue = p.queue[1:]
	}
	if len(p.queue) == 0 || p.connID == "" || p.held {
		return time.Time{}, false
	}
	due := p.notBefore
	if !p.lastSend.IsZero() {
		due = later(due, p.lastSend.Add(p.minInterval))
	}
	return due, true
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func finish(op *publishOp, err error) {
	for _, ch := range op.waiters {
		ch <- err
	}
	op.waiters = nil
}

// send makes one call and settles its outcome.
func (p *Publisher) send(ctx context.Context, op *publishOp, connID string) {
	cctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	var (
		err     error
		cluster *connectpb.Cluster
		reason  connectpb.PutStateReason
	)
	if op.inactive {
		err = p.sender.Inactive(cctx, connID)
	} else {
		req := proto.CloneOf(op.req)
		if op.newDev {
			req.PutStateReason = connectpb.PutStateReason_NEW_DEVICE
		}
		req.ClientSideTimestamp = uint64(p.now().UnixMilli())
		reason = req.PutStateReason
		cluster, err = p.sender.PutState(cctx, connID, req)
	}

	if err == nil && cluster != nil && p.onCluster != nil {
		p.onCluster(cluster) // outside the lock: it may well call Publish
	}
	held := err != nil && ctx.Err() == nil && p.failed != nil && p.failed(err)
	p.mu.Lock()
	defer p.mu.Unlock()
	if held {
		p.stats.note(err, false)
		p.held = true
		p.requeueLocked(op)
		p.log.Debug("connect state call failed; the owner takes over", "err", err)
		return
	}
	if err == nil {
		p.stats.note(nil, false)
		p.failures = 0
		if !op.inactive && op.newDev {
			p.registered = connID
		}
		finish(op, nil)
		if op.inactive {
			p.log.Debug("connect state: inactive sent")
		} else {
			p.log.Debug("connect state published", "reason", reason.String())
		}
		return
	}
	if ctx.Err() != nil {
		p.requeueLocked(op)
		return
	}
	var se *StatusError
	isStatus := errors.As(err, &se)
	p.stats.note(err, isStatus && se.Status == http.StatusTooManyRequests)
	switch {
	case isStatus && se.Status == http.StatusTooManyRequests:
		wait := se.RetryAfter
		if wait <= 0 {
			wait = p.rateLimitWait
		}
		p.notBefore = p.now().Add(wait)
		p.requeueLocked(op)
		p.log.Warn("connect state: rate limited; cooling down", "wait", wait)
	case isStatus && !se.Temporary(), errors.Is(err, ErrNoConnectionID):
		// Sending it again gets the same answer: drop it. A later state
		// is a new request and may do better.
		finish(op, err)
		p.log.Error("connect state refused", "err", err)
	default:
		p.failures++
		wait := publishMinRetry
		for i := 1; i < p.failures && wait < publishMaxRetry; i++ {
			wait *= 2
		}
		wait = min(wait, publishMaxRetry)
		p.notBefore = p.now().Add(wait)
		p.requeueLocked(op)
		p.log.Warn("connect state call failed; retrying", "wait", wait, "err", err)
	}
}

// requeueLocked puts a failed call back at the head of the queue, unless a
// newer state has been queued behind it: the latest state wins, and it
// inherits the pending NEW_DEVICE.
func (p *Publisher) requeueLocked(op *publishOp) {
	if !op.inactive && len(p.queue) > 0 && !p.queue[0].inactive {
		p.queue[0].newDev = p.queue[0].newDev || op.newDev
		return
	}
	p.queue = append([]*publishOp{op}, p.queue...)
}
