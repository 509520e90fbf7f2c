package apconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultKeyTimeout bounds one audio-key request. librespot waits 1.5 s,
// go-librespot 15 s; a few seconds lets a slow AP answer without holding up
// a skip over a track that will never get its key.
const DefaultKeyTimeout = 5 * time.Second

// KeyConfig configures a KeyProvider.
type KeyConfig struct {
	// Timeout per request; DefaultKeyTimeout when zero.
	Timeout time.Duration
	// After is the clock (time.After in production).
	After func(time.Duration) <-chan time.Time
	Log   *slog.Logger
}

// KeyProvider asks the access point for audio keys (packet 0x0c) and matches
// the answers (0x0d, 0x0e) to the requests by sequence number. It is our own
// rather than go-librespot's audio.KeyProvider, which zero-pads a truncated
// key and lets in-flight requests hang until their timeout when the
// connection drops. Safe for concurrent use.
type KeyProvider struct {
	send Sender
	cfg  KeyConfig

	mu      sync.Mutex
	seq     uint32
	pending map[uint32]chan keyResult
	lost    bool
}

type keyResult struct {
	key [16]byte
	err error
}

// NewKeyProvider returns a provider that sends its requests through send.
// Answers reach it through Handle (Serve calls it).
func NewKeyProvider(send Sender, cfg KeyConfig) *KeyProvider {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultKeyTimeout
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &KeyProvider{send: send, cfg: cfg, pending: map[uint32]chan keyResult{}}
}

// AudioKey implements KeySource.
func (k *KeyProvider) AudioKey(ctx context.Context, gid [16]byte, fileID [20]byte) ([16]byte, error) {
	k.mu.Lock()
	if k.lost {
		k.mu.Unlock()
		return [16]byte{}, fmt.Errorf("audio key for file %x: %w", fileID, ErrConnLost)
	}
	seq := k.seq
	k.seq++
	ch := make(chan keyResult, 1)
	k.pending[seq] = ch
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		delete(k.pending, seq)
		k.mu.Unlock()
	}()

	if err := k.send.Send(ctx, PacketRequestKey, EncodeKeyRequest(fileID, gid, seq)); err != nil {
		// A send that failed because the connection went away is the
		// typed loss, whatever error the transport chose.
		select {
		case r := <-ch:
			if errors.Is(r.err, ErrConnLost) {
				return [16]byte{}, fmt.Errorf("audio key for file %x: %w", fileID, ErrConnLost)
			}
		default:
		}
		return [16]byte{}, fmt.Errorf("send audio key request for file %x: %w", fileID, err)
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return [16]byte{}, fmt.Errorf("audio key for file %x: %w", fileID, r.err)
		}
		return r.key, nil
	case <-k.cfg.After(k.cfg.Timeout):
		return [16]byte{}, fmt.Errorf("audio key for file %x after %v: %w", fileID, k.cfg.Timeout, ErrKeyTimeout)
	case <-ctx.Done():
		return [16]byte{}, fmt.Errorf("audio key for file %x: %w", fileID, ctx.Err())
	}
}

// Handle takes an AesKey or AesKeyError packet and completes the request it
// answers; handled is false for other packet types. It never blocks. An
// answer nobody waits for (timed out, or never asked) is logged and dropped.
func (k *KeyProvider) Handle(p Packet) (handled bool) {
	if p.Type != PacketAesKey && p.Type != PacketAesKeyError {
		return false
	}
	a, err := DecodeKeyAnswer(p.Type, p.Payload)
	if !a.SeqOK {
		k.cfg.Log.Warn("dropping an audio key answer without a sequence number", "err", err)
		return true
	}
	k.mu.Lock()
	ch, ok := k.pending[a.Seq]
	delete(k.pending, a.Seq)
	k.mu.Unlock()
	if !ok {
		k.cfg.Log.Debug("dropping an audio key answer nobody waits for", "seq", a.Seq)
		return true
	}
	ch <- keyResult{key: a.Key, err: err} // buffered, and each seq is answered once
	return true
}

// Lost fails every in-flight request, and every later one, with ErrConnLost.
func (k *KeyProvider) Lost() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.lost = true
	for seq, ch := range k.pending {
		ch <- keyResult{err: ErrConnLost}
		delete(k.pending, seq)
	}
}

// Serve reads pc's packets until its Receive channel is closed, handing them
// to info and keys (either may be nil). When pc's Done closes (or the
// channel does) both are told the connection is lost, so waiters fail at
// once; Serve still drains the channel to its end, because go-librespot's AP
// blocks its receive loop (and with it the keep-alive) on every unread send.
// The caller owns the goroutine that runs Serve.
func Serve(pc PacketConn, info *Info, keys *KeyProvider, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lost := func() {
		if keys != nil {
			keys.Lost()
		}
		if info != nil {
			info.Lost()
		}
	}
	defer lost()
	packets, done := pc.Receive(), pc.Done()
	for {
		select {
		case p, ok := <-packets:
			if !ok {
				return
			}
			if keys != nil && keys.Handle(p) {
				continue
			}
			if info != nil {
				if handled, err := info.Handle(p); handled {
					if err != nil {
						log.Warn("ignoring a malformed access point packet", "type", fmt.Sprintf("0x%02x", byte(p.Type)), "err", err)
					}
					continue
				}
			}
			log.Debug("ignoring an access point packet", "type", fmt.Sprintf("0x%02x", byte(p.Type)), "len", len(p.Payload))
		case <-done:
			lost()
			done = nil
		}
	}
}
