// Package playback is the glue between the player (audio/player) and the
// rest of the speaker, used by `speakerbox play` and the receiver alike:
// Output switches the amplifier around the output device and turns player
// events into hook events, Queue plays a list of tracks back to back, and
// AmpCommands switches the amplifier by running the configured commands.
// It knows the player and the relay; it knows nothing of Spotify.
package playback
