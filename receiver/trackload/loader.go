package trackload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	emdpb "github.com/devgianlu/go-librespot/proto/spotify/extendedmetadata"
	audiofilespb "github.com/devgianlu/go-librespot/proto/spotify/extendedmetadata/audiofiles"
	metadatapb "github.com/devgianlu/go-librespot/proto/spotify/metadata"

	"github.com/speakerbox/speakerbox/audio/player"
	"github.com/speakerbox/speakerbox/audio/source"
	"github.com/speakerbox/speakerbox/receiver/apconn"
	"github.com/speakerbox/speakerbox/receiver/media"
	"github.com/speakerbox/speakerbox/receiver/spclient"
)

// DefaultBitrate is the Vorbis bitrate (kbit/s) asked for when
// Config.Bitrate is zero.
const DefaultBitrate = 160

// Config configures a Loader.
type Config struct {
	// Spclient fetches metadata and resolves storage; required.
	Spclient *spclient.Client
	// Keys hands out audio keys (the access point); required.
	Keys apconn.KeySource
	// Account gives the country restrictions are checked against, and the
	// cover URL template; required.
	Account apconn.Account
	// CDN fetches the audio files (http.DefaultClient when nil).
	CDN *http.Client
	// Bitrate is audio.bitrate: 96, 160 or 320 kbit/s (DefaultBitrate when
	// zero). A file at another bitrate plays when this one is missing
	// (media.FileOrder).
	Bitrate int
	// KeyTimeout bounds one audio-key request (apconn.DefaultKeyTimeout
	// when zero).
	KeyTimeout time.Duration
	// Now is the clock CDN URL expiry is judged by (time.Now when nil).
	// Timings use the monotonic clock regardless.
	Now func() time.Time
	// RefreshMargin: CDN URLs are resolved again this long before they
	// expire (spclient.DefaultCDNRefreshMargin when zero).
	RefreshMargin time.Duration
	// Stream is the template of every stream's settings: its zero values
	// take audio/source's defaults (the memory bound in the package doc);
	// Client, URLs, Log and Now are set by the loader. Tests inject Sleep
	// and smaller chunks here.
	Stream source.Config
	Log    *slog.Logger
}

// Loader loads tracks and episodes. It holds no goroutine and is safe for
// concurrent use; each Loaded owns its stream.
type Loader struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg and returns a Loader.
func New(cfg Config) (*Loader, error) {
	switch {
	case cfg.Spclient == nil:
		return nil, errors.New("trackload: Config.Spclient is nil")
	case cfg.Keys == nil:
		return nil, errors.New("trackload: Config.Keys is nil")
	case cfg.Account == nil:
		return nil, errors.New("trackload: Config.Account is nil")
	}
	if cfg.Bitrate == 0 {
		cfg.Bitrate = DefaultBitrate
	}
	if _, err := media.FileOrder(cfg.Bitrate); err != nil {
		return nil, fmt.Errorf("trackload: audio.bitrate %d: allowed are 96, 160 and 320", cfg.Bitrate)
	}
	if cfg.KeyTimeout < 0 {
		return nil, fmt.Errorf("trackload: Config.KeyTimeout %v: must not be negative", cfg.KeyTimeout)
	}
	if cfg.KeyTimeout == 0 {
		cfg.KeyTimeout = apconn.DefaultKeyTimeout
	}
	if cfg.CDN == nil {
		cfg.CDN = http.DefaultClient
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Loader{cfg: cfg, log: cfg.Log}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	return l, nil
}

// Load fetches the metadata of uri (a track or an episode), chooses its
// file, and opens a stream of it with the audio key: the returned Loaded
// is ready for the player, and must be closed. prefetch asks storage-
// resolve's prefetch variant (for the next item, loaded ahead).
//
// An error matching ErrUnavailable (an *UnavailableError) means the item
// cannot play here: skip it. Any other error (the network, a timeout, the
// access point lost, ctx ended) may go away when asked again.
//
// ctx bounds Load only; the stream lives until Loaded.Close.
func (l *Loader) Load(ctx context.Context, uri string, prefetch bool) (*Loaded, error) {
	start := time.Now()
	kind, _, err := media.GID(uri)
	if err != nil {
		return nil, unavailable(uri, "not a track or episode URI", err)
	}
	country, err := l.cfg.Account.Country(ctx)
	if err != nil {
		return nil, fmt.Errorf("load %s: the account's country: %w", uri, err)
	}
	img := l.imageURL(ctx)
	var p plan
	switch kind {
	case "track":
		p, err = l.trackPlan(ctx, uri, country, img)
	case "episode":
		p, err = l.episodePlan(ctx, uri, country, img)
	default:
		return nil, unavailable(uri, fmt.Sprintf("a %s is neither a track nor an episode", kind), nil)
	}
	if err != nil {
		return nil, err
	}
	var tm Timings
	tm.Metadata = time.Since(start)

	// The key and the first chunk do not depend on each other: fetch them
	// side by side, so the start waits for the longer, not for both.
	kctx, kcancel := context.WithTimeout(ctx, l.cfg.KeyTimeout)
	defer kcancel()
	type keyResult struct {
		key [16]byte
		err error
		d   time.Duration
	}
	// A failed key stops the stream's first fetch, and the other way
	// round, so a failure returns as soon as it is known.
	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	kch := make(chan keyResult, 1)
	go func() {
		t := time.Now()
		k, err := l.cfg.Keys.AudioKey(kctx, p.gid, p.fileID)
		if err != nil {
			ocancel()
		}
		kch <- keyResult{k, err, time.Since(t)}
	}()

	st, sr, first, serr := l.open(octx, uri, p, prefetch)
	tm.StorageResolve, tm.FirstChunk = sr, first
	if serr != nil {
		kcancel()
	}
	kr := <-kch // the goroutine is ours: always wait for it
	tm.Key = kr.d
	if serr != nil || kr.err != nil {
		if st != nil {
			_ = st.Close()
		}
		return nil, pickError(serr, l.keyError(ctx, kctx, uri, p, kr.err))
	}
	tm.Total = time.Since(start)
	key := kr.key
	ld := &Loaded{
		Meta: p.meta,
		Track: player.Track{
			ID:     uri,
			Source: st.stream,
			Size:   st.stream.Size(),
			Key:    key[:],
		},
		FileID:    fmt.Sprintf("%x", p.fileID),
		Bitrate:   p.bitrate,
		Closer:    st,
		PlayedURI: p.playedURI,
		Norm:      p.norm,
		AlbumNorm: p.albumNorm,
		Timings:   tm,
	}
	l.log.Info("loaded", "uri", uri, "played_uri", p.playedURI, "file", ld.FileID, "kbps", p.bitrate,
		"prefetch", prefetch, "bytes", ld.Track.Size, "metadata", tm.Metadata, "key", tm.Key,
		"storage_resolve", tm.StorageResolve, "first_chunk", tm.FirstChunk, "total", tm.Total)
	return ld, nil
}

// pickError chooses what a failed Load reports: that the item is
// unavailable (skip it) over anything else; then the key's error, since a
// failed key cancels the stream's fetch and not the other way round.
func pickError(serr, kerr error) error {
	switch {
	case errors.Is(serr, ErrUnavailable):
		return serr
	case errors.Is(kerr, ErrUnavailable):
		return kerr
	case kerr != nil && (serr == nil || errors.Is(serr, context.Canceled)):
		return kerr
	case serr != nil:
		return serr
	}
	return kerr
}

// imageURL returns the cover URL maker, from the product info if the
// access point has sent it already: covers are worth no wait.
func (l *Loader) imageURL(ctx context.Context) imageURL {
	now, cancel := context.WithCancel(ctx)
	cancel() // Product answers at once when it knows, else fails
	prod, err := l.cfg.Account.Product(now)
	if err != nil || prod.ImageURL == "" {
		return nil
	}
	return prod.ImageURLFor
}

// metadataError sorts an error from extended-metadata or storage-resolve:
// an answer that says the item is not there is unavailable, anything that
// may pass is not.
func metadataError(uri, what string, err error) error {
	var se *spclient.StatusError
	switch {
	case errors.Is(err, spclient.ErrUnavailable):
		return unavailable(uri, what, err)
	case errors.As(err, &se) && !se.Temporary():
		return unavailable(uri, what, err)
	}
	return fmt.Errorf("load %s: %s: %w", uri, what, err)
}

func (l *Loader) trackPlan(ctx context.Context, uri, country string, img imageURL) (plan, error) {
	// One request for both: a track that plays as itself (the usual case)
	// needs no second round trip for its files.
	body, err := l.cfg.Spclient.ExtendedMetadata(ctx, &emdpb.BatchedEntityRequest{
		EntityRequest: []*emdpb.EntityRequest{{
			EntityUri: uri,
			Query: []*emdpb.ExtensionQuery{
				{ExtensionKind: emdpb.ExtensionKind_TRACK_V4},
				{ExtensionKind: emdpb.ExtensionKind_AUDIO_FILES},
			},
		}},
	})
	if err != nil {
		return plan{}, metadataError(uri, "track metadata", err)
	}
	var t metadatapb.Track
	if err := spclient.DecodeExtension(body, uri, emdpb.ExtensionKind_TRACK_V4, &t); err != nil {
		return plan{}, metadataError(uri, "track metadata", err)
	}
	played, err := relink(uri, &t, country)
	if err != nil {
		return plan{}, err
	}
	var af *audiofilespb.AudioFilesExtensionResponse
	if played == &t {
		var a audiofilespb.AudioFilesExtensionResponse
		switch err := spclient.DecodeExtension(body, uri, emdpb.ExtensionKind_AUDIO_FILES, &a); {
		case err == nil:
			af = &a
		case errors.Is(err, spclient.ErrUnavailable):
			// No AUDIO_FILES: the track's own file list serves.
			l.log.Debug("no AUDIO_FILES; using the track's files", "uri", uri, "err", err)
		default:
			return plan{}, metadataError(uri, "audio files", err)
		}
	} else {
		alt, err := media.URI("track", played.GetGid())
		if err != nil {
			return plan{}, unavailable(uri, "alternative without a valid gid", err)
		}
		l.log.Info("relinked", "uri", uri, "to", alt, "country", country)
		af, err = l.cfg.Spclient.AudioFiles(ctx, alt)
		if err != nil {
			if !errors.Is(err, spclient.ErrUnavailable) {
				return plan{}, metadataError(uri, "audio files of "+alt, err)
			}
			af = nil
		}
	}
	return trackPlan(uri, &t, played, af, l.cfg.Bitrate, img)
}

func (l *Loader) episodePlan(ctx context.Context, uri, country string, img imageURL) (plan, error) {
	e, err := l.cfg.Spclient.EpisodeMetadata(ctx, uri)
	if err != nil {
		return plan{}, metadataError(uri, "episode metadata", err)
	}
	return episodePlan(uri, e, country, l.cfg.Bitrate, img)
}

// keyError sorts the audio-key outcome: a refusal is unavailable; a
// timeout, a lost connection or a malformed answer may pass.
func (l *Loader) keyError(ctx, kctx context.Context, uri string, p plan, err error) error {
	var refused *apconn.KeyRefusedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &refused):
		return unavailable(uri, "audio key refused", err)
	case ctx.Err() != nil:
		return fmt.Errorf("load %s: audio key: %w", uri, ctx.Err())
	case errors.Is(kctx.Err(), context.DeadlineExceeded) && !errors.Is(err, apconn.ErrKeyTimeout):
		// Our own bound ran out before the key source's.
		return fmt.Errorf("load %s: audio key for file %x after %v: %w", uri, p.fileID, l.cfg.KeyTimeout, apconn.ErrKeyTimeout)
	}
	return fmt.Errorf("load %s: %w", uri, err)
}

// stream is an open CDN stream and what stops it.
type stream struct {
	stream *source.Stream
	cancel context.CancelFunc
}

// Close stops the stream's fetching and frees its chunks.
func (s *stream) Close() error {
	err := s.stream.Close()
	s.cancel()
	return err
}

// open resolves the file's CDN URLs and opens a stream on them, fetching
// the first chunk. It returns how long each part took.
func (l *Loader) open(ctx context.Context, uri string, p plan, prefetch bool) (st *stream, resolve, first time.Duration, err error) {
	t := time.Now()
	urls := spclient.NewCDNURLs(l.cfg.Spclient, int32(p.format), p.fileID[:], prefetch, l.cfg.Now, l.cfg.RefreshMargin)
	// Resolved here, rather than in source.Open, to time it apart; Open
	// then takes the cached URLs.
	if _, err := urls.URLs(ctx, false); err != nil {
		return nil, time.Since(t), 0, metadataError(uri, "storage-resolve", err)
	}
	resolve = time.Since(t)
	t = time.Now()

	// The stream outlives ctx (which bounds Load only), yet ctx must be
	// able to stop the first fetch: tie them until Open returns.
	sctx, scancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, scancel)
	cfg := l.cfg.Stream
	cfg.Client, cfg.URLs, cfg.Log = l.cfg.CDN, urls, l.log.With("uri", uri)
	if cfg.Now == nil {
		cfg.Now = l.cfg.Now
	}
	s, err := source.Open(sctx, cfg)
	first = time.Since(t)
	if !stop() {
		// ctx ended: the stream's context is cancelled with it.
		if s != nil {
			_ = s.Close()
		}
		scancel()
		return nil, resolve, first, fmt.Errorf("load %s: open the CDN stream: %w", uri, ctx.Err())
	}
	if err != nil {
		scancel()
		if errors.Is(err, spclient.ErrUnavailable) {
			return nil, resolve, first, unavailable(uri, "storage-resolve", err)
		}
		return nil, resolve, first, fmt.Errorf("load %s: open the CDN stream: %w", uri, err)
	}
	return &stream{stream: s, cancel: scancel}, resolve, first, nil
}
