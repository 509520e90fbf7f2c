package main

import (
	"context"
	"net/http"
	"time"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/alsasink"
	"github.com/speakerbox/speakerbox/receiver"
	"github.com/speakerbox/speakerbox/receiver/apconn"
	"github.com/speakerbox/speakerbox/receiver/playback"
	"github.com/speakerbox/speakerbox/receiver/spclient"
	"github.com/speakerbox/speakerbox/receiver/trackload"
	"github.com/speakerbox/speakerbox/receiver/trackplayer"
)

// spotifyAccess is how the speaker reaches Spotify: every HTTPS call and
// the dealer websocket through HTTP, the audio files through CDN, and the
// access point through Dialer.
type spotifyAccess struct {
	HTTP   *http.Client
	CDN    *http.Client
	Dialer receiver.Dialer
}

// spotifyAccess is the real service unless a test replaced it.
func (a *app) spotifyAccess(deviceID string) spotifyAccess {
	if a.spotify != nil {
		return a.spotify(deviceID)
	}
	// No Client.Timeout: the dealer's websocket lives for hours, and every
	// request carries a context with its own deadline.
	httpc := &http.Client{}
	return spotifyAccess{
		HTTP: httpc,
		CDN:  &http.Client{},
		Dialer: &receiver.APDialer{
			DeviceID: deviceID,
			HTTP:     &http.Client{Timeout: 30 * time.Second},
			Log:      a.log.With("component", "ap"),
		},
	}
}

// newConnectPlayer builds the receiver's player: the audio player on the
// configured output, exactly as `speakerbox play` builds it (gate and
// hooks from out), behind the track player, whose resolver is a track
// loader on each logged-in session. The caller closes it.
func newConnectPlayer(a *app, out *playback.Output, hk trackplayer.Hooks, access spotifyAccess) (*trackplayer.Player, audio.Sink, error) {
	log := a.log.With("component", "player")
	sink, err := newSink(a.cfg, log)
	if err != nil {
		return nil, nil, err
	}
	pc, err := playerConfig(a.cfg, sink, log)
	if err != nil {
		return nil, nil, err
	}
	pc.Gate = out // amplifier on and warmed up before the device opens
	pc.Observe = out.Observe
	bitrate := a.cfg.Audio.Bitrate
	loadLog := a.log.With("component", "trackload")
	tp, err := trackplayer.New(trackplayer.Config{
		Audio: pc,
		NewResolver: func(sp *spclient.Client, conn apconn.Conn) (trackplayer.Resolver, error) {
			return trackload.New(trackload.Config{Spclient: sp, Keys: conn, Account: conn, CDN: access.CDN,
				Bitrate: bitrate, Log: loadLog})
		},
		Hooks: hk,
		Log:   log,
	})
	if err != nil {
		return nil, nil, err
	}
	out.Attach(tp)
	out.Describe(tp.Describe)
	return tp, sink, nil
}

// watchLocalVolume reports volume changes made on the hardware mixer
// control (alsamixer, a knob) when audio.mixer names one: to the player,
// which would otherwise put its older volume back when the device reopens
// (the same value it holds is no write at all), and to the Connect device,
// which shows them in the apps. nil when there is nothing to watch. The
// returned channel closes once ctx has ended and the control is released.
func watchLocalVolume(ctx context.Context, a *app, sink audio.Sink, pl *trackplayer.Player) <-chan uint32 {
	vs, ok := sink.(*alsasink.VolumeSink)
	if !ok {
		return nil
	}
	changes, err := vs.WatchVolume(ctx)
	if err != nil {
		a.log.Warn("changes made on the mixer control are not shown in the apps", "mixer", a.cfg.Audio.Mixer, "err", err)
		return nil
	}
	local := make(chan uint32)
	a.Go(func() {
		defer close(local)
		for v := range changes {
			pl.SetVolume(v)
			select {
			case local <- v:
			case <-ctx.Done():
			}
		}
	})
	return local
}
