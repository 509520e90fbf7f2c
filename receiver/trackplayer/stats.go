package trackplayer

import "github.com/speakerbox/speakerbox/audio/player"

// AudioStats is the audio player's counters (under-runs, xruns, buffer
// fill, decode time), for metrics; safe from any goroutine.
func (p *Player) AudioStats() player.Stats { return p.audio.Stats() }
