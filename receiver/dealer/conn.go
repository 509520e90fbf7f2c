package dealer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
)

// incoming is what a connection hands to Run: an event and, for a request,
// its reply state (so that Run can drop a request that has been answered by
// its deadline before the consumer ever saw it).
type incoming struct {
	ev    Event
	reply *pendingReply
}

// conn is one websocket connection with its two goroutines: the reader and
// the writer, which also pings. Run owns it: it learns of the end through
// done and waits for both goroutines with wg.
type conn struct {
	cfg *Config
	log *slog.Logger
	ws  *websocket.Conn
	in  chan<- incoming // Run's input; Run always takes it promptly

	ctx    context.Context
	cancel context.CancelFunc
	// out holds frames for the writer. Replies and pongs never block on it:
	// when it is full the writer is stuck and the connection is ended.
	out chan []byte
	// heard is set by every frame read and cleared by every ping tick.
	heard atomic.Bool
	// named is set once the pusher has named the connection; Run resets its
	// backoff only for such a connection.
	named atomic.Bool

	endOnce sync.Once
	err     error // why the connection ended; read after done is closed
	done    chan struct{}
	wg      sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	pending map[string]*pendingReply // by request key
}

func newConn(ctx context.Context, cfg *Config, log *slog.Logger, ws *websocket.Conn, in chan<- incoming) *conn {
	c := &conn{
		cfg:     cfg,
		log:     log,
		ws:      ws,
		in:      in,
		out:     make(chan []byte, 64),
		done:    make(chan struct{}),
		pending: make(map[string]*pendingReply),
	}
	c.ctx, c.cancel = context.WithCancel(ctx)
	// Our own limit in readLoop drops an oversized frame and keeps the
	// connection; the library's would close it.
	ws.SetReadLimit(-1)
	c.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
	return c
}

// end closes the connection for the reason err; only the first call counts.
// It never blocks for long: it closes the socket without a close handshake.
func (c *conn) end(err error) {
	c.endOnce.Do(func() {
		c.err = err
		c.cancel()
		_ = c.ws.CloseNow()
		c.mu.Lock()
		c.closed = true
		pending := c.pending
		c.pending = nil
		c.mu.Unlock()
		// A reply can no longer reach the server that asked.
		for _, p := range pending {
			if p.done.CompareAndSwap(false, true) && p.stop != nil {
				p.stop()
			}
		}
		close(c.done)
	})
}

// wait ends the connection (if it is still up) and waits for its goroutines.
func (c *conn) wait() {
	c.end(errors.New("closed"))
	c.wg.Wait()
}

func (c *conn) readLoop() {
	defer c.wg.Done()
	var lastID string
	dec := decoder{maxPayload: c.cfg.MaxPayload}
	for {
		data, err := c.readFrame()
		if err != nil {
			c.end(fmt.Errorf("read: %w", err))
			return
		}
		if data == nil {
			continue // dropped in readFrame
		}
		f, err := dec.decode(data)
		if err != nil {
			if f.kind == frameRequest {
				c.log.Warn("malformed dealer request; answering failure", "key", f.req.Key, "ident", f.req.Ident, "err", err)
				if p := c.track(f.req.Key); p != nil {
					p.finish(false)
				}
			} else {
				c.log.Warn("dropping malformed dealer frame", "bytes", len(data), "err", err)
			}
			continue
		}
		switch f.kind {
		case framePing:
			c.send([]byte(pongText))
		case framePong:
		case frameConnectionID:
			if f.id == lastID {
				continue
			}
			lastID = f.id
			c.named.Store(true)
			if !c.deliver(incoming{ev: ConnectionID{ID: f.id}}) {
				return
			}
		case frameMessage:
			if f.payloads > 1 {
				c.log.Debug("dealer message with several payloads; joined them", "uri", f.msg.URI, "payloads", f.payloads)
			}
			if !c.deliver(incoming{ev: f.msg}) {
				return
			}
		case frameRequest:
			p := c.track(f.req.Key)
			if p == nil {
				continue // a duplicate, or the connection is ending
			}
			req := f.req
			req.Reply = p.reply
			if !c.deliver(incoming{ev: req, reply: p}) {
				return
			}
		}
	}
}

// readFrame reads one frame. A binary or oversized frame is dropped with a
// log (nil, nil): it says nothing we understand, but the connection is fine.
func (c *conn) readFrame() ([]byte, error) {
	typ, r, err := c.ws.Reader(c.ctx)
	if err != nil {
		return nil, err
	}
	c.heard.Store(true)
	data, err := io.ReadAll(io.LimitReader(r, c.cfg.MaxFrame+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > c.cfg.MaxFrame {
		n, err := io.Copy(io.Discard, r)
		if err != nil {
			return nil, err
		}
		c.log.Warn("dropping oversized dealer frame", "bytes", int64(len(data))+n, "limit", c.cfg.MaxFrame)
		return nil, nil
	}
	if typ != websocket.MessageText {
		c.log.Warn("dropping binary dealer frame", "bytes", len(data))
		return nil, nil
	}
	return data, nil
}

// deliver hands an event to Run; false when the connection has ended.
func (c *conn) deliver(in incoming) bool {
	select {
	case c.in <- in:
		return true
	case <-c.done:
		return false
	}
}

func (c *conn) writeLoop() {
	defer c.wg.Done()
	ticks, stop := c.cfg.PingTicker(c.cfg.PingInterval)
	defer stop()
	pinged := false
	for {
		select {
		case <-c.done:
			return
		case b := <-c.out:
			if err := c.write(b); err != nil {
				c.end(err)
				return
			}
		case <-ticks:
			// Anything heard since the last tick proves the connection;
			// a whole interval of silence after a ping means it is dead.
			// So a connection that dies is noticed within two intervals.
			alive := c.heard.Swap(false)
			if pinged && !alive {
				c.end(fmt.Errorf("no answer from the dealer for %s after a ping", c.cfg.PingInterval))
				return
			}
			if err := c.write([]byte(pingText)); err != nil {
				c.end(err)
				return
			}
			pinged = true
		}
	}
}

func (c *conn) write(b []byte) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.WriteTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// send queues a frame for the writer without blocking.
func (c *conn) send(b []byte) {
	select {
	case <-c.done:
		return
	default:
	}
	select {
	case c.out <- b:
	case <-c.done:
	default:
		c.end(errors.New("write queue full: the connection takes no writes"))
	}
}

// pendingReply is one request waiting for its single reply.
type pendingReply struct {
	c    *conn
	key  string
	done atomic.Bool
	stop func() bool // the deadline; set under c.mu before anyone can read it
}

// track registers a request and arms its reply deadline. It returns nil
// when the connection has ended, or when a request with the same key is
// still waiting for its reply: that one's reply answers the key, and a
// second would break "one reply per key".
func (c *conn) track(key string) *pendingReply {
	p := &pendingReply{c: c, key: key}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	if _, dup := c.pending[key]; dup {
		c.log.Warn("dealer request repeats a key still waiting for its reply; ignored", "key", key)
		return nil
	}
	c.pending[key] = p
	p.stop = c.cfg.AfterFunc(c.cfg.ReplyTimeout, func() {
		if p.finish(false) {
			c.log.Warn("no reply to a dealer request in time; answered failure", "key", key, "timeout", c.cfg.ReplyTimeout)
		}
	})
	return p
}

// reply is Request.Reply.
func (p *pendingReply) reply(success bool) {
	if !p.finish(success) {
		p.c.log.Debug("late or repeated reply to a dealer request ignored", "key", p.key, "success", success)
	}
}

// finish sends the reply if it is the first; it reports whether it was.
func (p *pendingReply) finish(success bool) bool {
	if !p.done.CompareAndSwap(false, true) {
		return false
	}
	c := p.c
	c.mu.Lock()
	if c.pending[p.key] == p {
		delete(c.pending, p.key)
	}
	stop := p.stop
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	c.send(replyFrame(p.key, success))
	return true
}
