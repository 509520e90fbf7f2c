package spotifytest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/coder/websocket"
)

// DealerCommandIdent is the message_ident of the apps' player commands.
const DealerCommandIdent = "hm://connect-state/v1/player/command"

// DealerServer plays Spotify's side of the dealer websocket for tests: it
// takes the upgrade (GET /?access_token=...), names each connection with a
// pusher message, answers pings, pushes messages and requests on the newest
// connection and collects the device's replies. Knobs refuse upgrades, drop
// the connection, stop answering pings and send raw frames.
//
// Waits (WaitConnection, WaitPings, WaitReply) block on conditions, never on
// time; give them a context with a deadline. Create it with NewDealerServer;
// Close ends every connection and waits for their handlers.
type DealerServer struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	wg      sync.WaitGroup
	closed  bool

	acceptToken  func(token string) bool
	refuseStatus int
	refuseLeft   int // <0: forever
	answerPings  bool

	tokens  []string
	conns   []*dealerServerConn // every accepted upgrade, in order
	pings   int
	pongs   int // answers to our own pings (RoundTrip)
	replies map[string][]bool
	other   [][]byte // frames from the device that are neither ping nor reply

	gzMu sync.Mutex
	gzw  *gzip.Writer
}

type dealerServerConn struct {
	ws *websocket.Conn
	id string
	// wmu orders the frames written on ws: it is held from the connection's
	// creation until its pusher message is written, so that a test that sees
	// the connection named and pushes at once queues behind the connection
	// id instead of racing it.
	wmu   sync.Mutex
	named bool // the connection id is (or is being) written: tests may push
	live  bool
}

// write sends one text frame after every frame queued before it.
func (c *dealerServerConn) write(ctx context.Context, frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.Write(ctx, websocket.MessageText, frame)
}

// DealerMessage is a message to push. Payload nil sends no payloads;
// Payloads (if set) are sent as they are instead, each base64-encoded, to
// test several payloads.
type DealerMessage struct {
	URI      string
	Headers  map[string]string
	Payload  []byte
	Payloads [][]byte
	// Gzip compresses Payload and sets Transfer-Encoding: gzip.
	Gzip bool
}

// DealerRequest is a request to push. Payload is the JSON the device
// decodes ({message_id, sent_by_device_id, command}); see
// DealerCommandPayload.
type DealerRequest struct {
	Ident   string // DealerCommandIdent when empty
	Key     string
	Payload []byte
	// Gzip compresses Payload and sets Transfer-Encoding: gzip, as
	// Spotify does.
	Gzip bool
}

// DealerCommandPayload builds a request payload around command (any value
// encoding/json takes, e.g. map[string]any{"endpoint": "pause"}).
func DealerCommandPayload(messageID uint32, sentBy string, command any) ([]byte, error) {
	return json.Marshal(struct {
		MessageID uint32 `json:"message_id"`
		SentBy    string `json:"sent_by_device_id"`
		Command   any    `json:"command"`
	}{messageID, sentBy, command})
}

// NewDealerServer returns a dealer that accepts any non-empty token and
// answers pings.
func NewDealerServer() *DealerServer {
	return &DealerServer{
		changed:     make(chan struct{}),
		acceptToken: func(t string) bool { return t != "" },
		answerPings: true,
		replies:     make(map[string][]bool),
	}
}

// dealerBroadcast wakes every waiter; call with s.mu held.
func (s *DealerServer) dealerBroadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// dealerWait blocks until cond (called with s.mu held) is true or ctx ends.
func (s *DealerServer) dealerWait(ctx context.Context, what string, cond func() bool) error {
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("dealer: waiting for %s: %w", what, ctx.Err())
		}
	}
}

// SetAcceptToken replaces the check of access_token; a refused token gets
// 401.
func (s *DealerServer) SetAcceptToken(accept func(token string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acceptToken = accept
}

// RefuseUpgrades answers the next n upgrade requests with status (n<0:
// every one until changed; n=0 stops refusing).
func (s *DealerServer) RefuseUpgrades(status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseStatus, s.refuseLeft = status, n
}

// SetAnswerPings turns the pong answers on or off.
func (s *DealerServer) SetAnswerPings(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answerPings = on
}

// Tokens returns the access_token of every upgrade request so far, refused
// or not, in order.
func (s *DealerServer) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokens...)
}

// Connections returns how many upgrades were accepted so far.
func (s *DealerServer) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// WaitConnection waits until the n-th connection (1-based) has been accepted
// and named, and returns its connection id.
func (s *DealerServer) WaitConnection(ctx context.Context, n int) (string, error) {
	var id string
	err := s.dealerWait(ctx, fmt.Sprintf("connection %d", n), func() bool {
		if len(s.conns) < n || !s.conns[n-1].named {
			return false
		}
		id = s.conns[n-1].id
		return true
	})
	return id, err
}

// WaitDisconnected waits until the n-th connection (1-based) has ended.
func (s *DealerServer) WaitDisconnected(ctx context.Context, n int) error {
	return s.dealerWait(ctx, fmt.Sprintf("connection %d to end", n), func() bool {
		return len(s.conns) >= n && !s.conns[n-1].live
	})
}

// Pings returns how many pings the device has sent, on all connections.
func (s *DealerServer) Pings() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pings
}

// WaitPings waits until the device has sent n pings in all.
func (s *DealerServer) WaitPings(ctx context.Context, n int) error {
	return s.dealerWait(ctx, fmt.Sprintf("%d pings", n), func() bool { return s.pings >= n })
}

// WaitReply waits for the first reply to key and returns its success flag.
func (s *DealerServer) WaitReply(ctx context.Context, key string) (bool, error) {
	var ok bool
	err := s.dealerWait(ctx, "the reply to "+key, func() bool {
		r := s.replies[key]
		if len(r) == 0 {
			return false
		}
		ok = r[0]
		return true
	})
	return ok, err
}

// Replies returns every reply to key so far (the device must send exactly
// one).
func (s *DealerServer) Replies(key string) []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]bool(nil), s.replies[key]...)
}

// RoundTrip pings the device (which Spotify does not do, but the device
// answers) and waits for its pong: everything sent on the connection before
// has then been read by the device. A fence for tests that cannot wait on
// the device's events.
func (s *DealerServer) RoundTrip(ctx context.Context) error {
	s.mu.Lock()
	want := s.pongs + 1
	s.mu.Unlock()
	if err := s.SendRaw(ctx, []byte(`{"type":"ping"}`)); err != nil {
		return err
	}
	return s.dealerWait(ctx, "a pong", func() bool { return s.pongs >= want })
}

// OtherFrames returns the frames from the device that were neither a ping,
// a pong nor a reply.
func (s *DealerServer) OtherFrames() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.other...)
}

// live returns the newest connection if it is still up.
func (s *DealerServer) live() (*dealerServerConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.conns); n > 0 && s.conns[n-1].live && s.conns[n-1].named {
		return s.conns[n-1], nil
	}
	return nil, errors.New("dealer: no live connection")
}

// SendRaw sends frame as a text frame on the newest connection, as it is.
func (s *DealerServer) SendRaw(ctx context.Context, frame []byte) error {
	c, err := s.live()
	if err != nil {
		return err
	}
	if err := c.write(ctx, frame); err != nil {
		return fmt.Errorf("dealer: send: %w", err)
	}
	return nil
}

// SendMessage pushes a message on the newest connection.
func (s *DealerServer) SendMessage(ctx context.Context, m DealerMessage) error {
	headers := map[string]string{}
	for k, v := range m.Headers {
		headers[k] = v
	}
	payloads := []string{}
	switch {
	case m.Payloads != nil:
		for _, p := range m.Payloads {
			payloads = append(payloads, base64.StdEncoding.EncodeToString(p))
		}
	case m.Payload != nil:
		p := m.Payload
		if m.Gzip {
			p = s.dealerGzip(p)
			headers["Transfer-Encoding"] = "gzip"
		}
		payloads = append(payloads, base64.StdEncoding.EncodeToString(p))
	}
	frame, err := json.Marshal(struct {
		Type     string            `json:"type"`
		Method   string            `json:"method"`
		URI      string            `json:"uri"`
		Headers  map[string]string `json:"headers"`
		Payloads []string          `json:"payloads"`
	}{"message", "PUT", m.URI, headers, payloads})
	if err != nil {
		return fmt.Errorf("dealer: encode message: %w", err)
	}
	return s.SendRaw(ctx, frame)
}

// SendRequest pushes a request on the newest connection; WaitReply(r.Key)
// then waits for its answer.
func (s *DealerServer) SendRequest(ctx context.Context, r DealerRequest) error {
	ident := r.Ident
	if ident == "" {
		ident = DealerCommandIdent
	}
	headers := map[string]string{}
	p := r.Payload
	if r.Gzip {
		p = s.dealerGzip(p)
		headers["Transfer-Encoding"] = "gzip"
	}
	var env struct {
		Type         string            `json:"type"`
		MessageIdent string            `json:"message_ident"`
		Key          string            `json:"key"`
		Headers      map[string]string `json:"headers"`
		Payload      struct {
			Compressed []byte `json:"compressed"`
		} `json:"payload"`
	}
	env.Type, env.MessageIdent, env.Key, env.Headers = "request", ident, r.Key, headers
	env.Payload.Compressed = p
	frame, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("dealer: encode request: %w", err)
	}
	return s.SendRaw(ctx, frame)
}

// Drop closes the newest connection abruptly (no close frame), as a router
// restart would.
func (s *DealerServer) Drop() error {
	c, err := s.live()
	if err != nil {
		return err
	}
	return c.ws.CloseNow()
}

// Close ends every connection and waits for their handlers; later upgrades
// get 503.
func (s *DealerServer) Close() {
	s.mu.Lock()
	s.closed = true
	conns := append([]*dealerServerConn(nil), s.conns...)
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.ws.CloseNow()
	}
	s.wg.Wait()
}

// dealerGzip compresses p. The writer is kept: a new one costs far more
// than compressing a command, and benchmarks push many.
func (s *DealerServer) dealerGzip(p []byte) []byte {
	s.gzMu.Lock()
	defer s.gzMu.Unlock()
	var b bytes.Buffer
	if s.gzw == nil {
		s.gzw = gzip.NewWriter(&b)
	} else {
		s.gzw.Reset(&b)
	}
	_, _ = s.gzw.Write(p) // writes to a bytes.Buffer do not fail
	_ = s.gzw.Close()
	return b.Bytes()
}

// ServeHTTP takes the websocket upgrade.
func (s *DealerServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("access_token")
	s.mu.Lock()
	s.tokens = append(s.tokens, token)
	refuse, closed := 0, s.closed
	if s.refuseLeft != 0 {
		refuse = s.refuseStatus
		if s.refuseLeft > 0 {
			s.refuseLeft--
		}
	}
	accepted := !closed && refuse == 0 && s.acceptToken(token)
	if accepted {
		s.wg.Add(1) // before unlocking, so that Close waits for this handler
	}
	s.dealerBroadcast()
	s.mu.Unlock()
	switch {
	case closed:
		http.Error(w, "dealer: server closed", http.StatusServiceUnavailable)
		return
	case refuse != 0:
		http.Error(w, "dealer: upgrade refused by the test", refuse)
		return
	case !accepted:
		http.Error(w, "dealer: invalid access token", http.StatusUnauthorized)
		return
	}
	defer s.wg.Done()

	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered the request
	}
	ws.SetReadLimit(1 << 20)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.CloseNow()
		return
	}
	n := len(s.conns) + 1
	c := &dealerServerConn{
		ws:   ws,
		id:   base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "dealer-test-connection-%d", n)),
		live: true,
	}
	c.wmu.Lock() // until the pusher message is written, below
	s.conns = append(s.conns, c)
	s.mu.Unlock()
	defer func() {
		_ = ws.CloseNow()
		s.mu.Lock()
		c.live = false
		s.dealerBroadcast()
		s.mu.Unlock()
	}()

	ctx := r.Context()
	pusher, _ := json.Marshal(struct {
		Type     string            `json:"type"`
		Method   string            `json:"method"`
		URI      string            `json:"uri"`
		Headers  map[string]string `json:"headers"`
		Payloads []string          `json:"payloads"`
	}{"message", "PUT", "hm://pusher/v1/connections/" + url.PathEscape(c.id),
		map[string]string{"Spotify-Connection-Id": c.id}, []string{}})
	// Marked named before the write but with the write lock held since the
	// connection was made: the device always sees its connection id first,
	// as from Spotify, and a test that waited for the connection (or for
	// the device's reaction to the id) can push at once.
	s.mu.Lock()
	c.named = true
	s.dealerBroadcast()
	s.mu.Unlock()
	err = ws.Write(ctx, websocket.MessageText, pusher)
	c.wmu.Unlock()
	if err != nil {
		return
	}

	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		var f struct {
			Type    string `json:"type"`
			Key     string `json:"key"`
			Payload struct {
				Success bool `json:"success"`
			} `json:"payload"`
		}
		_ = json.Unmarshal(data, &f)
		if f.Type == "ping" {
			s.mu.Lock()
			pong := s.answerPings
			s.mu.Unlock()
			// The pong goes out before the ping is counted, so that a
			// test that has seen the count knows that whatever it sends
			// next reaches the device after the pong.
			if pong {
				if err := c.write(ctx, []byte(`{"type":"pong"}`)); err != nil {
					return
				}
			}
		}
		s.mu.Lock()
		switch f.Type {
		case "ping":
			s.pings++
		case "pong":
			s.pongs++
		case "reply":
			s.replies[f.Key] = append(s.replies[f.Key], f.Payload.Success)
		default:
			s.other = append(s.other, data)
		}
		s.dealerBroadcast()
		s.mu.Unlock()
	}
}
