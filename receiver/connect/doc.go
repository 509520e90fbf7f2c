// Package connect is the Spotify Connect state machine of the receiver: a
// pure function
//
//	Step(State, Input) (State, []Effect)
//
// with no goroutines, no I/O and no clock of its own (the time is part of
// every Input). The receiver's loop feeds it dealer requests and messages,
// player events, load results and timer ticks, and carries out the effects
// it returns, in order:
//
//   - Reply: answer the dealer request Key with Success. Exactly one per
//     Request input, always first in the list, so the loop can answer at once.
//   - LocalReply: the same for a LocalCommand (the speaker's own control
//     API), with the reason of a refusal; the command itself takes the app
//     commands' path, so both behave alike.
//   - Hook: hand the event to the hook runner (receiver/hooks).
//   - PlayerLoad, PlayerPause, PlayerResume, PlayerSeek, PlayerStop,
//     PlayerSetVolume, PlayerPrefetch: calls on the audio player. The player
//     reports back with TrackStarted, TrackPosition, TrackEnded and
//     TrackUnavailable, naming the PlaybackID of the PlayerLoad they belong
//     to; events for an older PlaybackID are ignored.
//   - LoadContext, LoadPage, LoadAutoplay: fetches through spclient
//     (context-resolve, a page URL, the autoplay station). The loop runs
//     them in the background and feeds the result back as ContextLoaded,
//     PageLoaded or AutoplayLoaded with the same ID; a result with an ID the
//     machine no longer waits for is ignored, so the loop never has to
//     cancel anything.
//   - Publish: give Request (a full PutStateRequest, reason NEW_DEVICE,
//     PLAYER_STATE_CHANGED or VOLUME_CHANGED) to the coalescing publisher,
//     with ConnectionID as X-Spotify-Connection-Id. PublishInactive: the
//     inactive call. At most one of the two per step, always last.
//   - AmplifierIdle: start the amplifier's idle timeout.
//   - SaveVolume: remember the volume in the state directory.
//   - Logout: the app logged the user out; drop the session.
//
// The State is a value. Step never writes into memory the State it was
// given shares with anything else (slices and maps are replaced, never
// changed in place), so an old State stays valid and unchanged: a failed
// command simply returns the State it got. Published protobufs share
// read-only parts of the State (maps, PlayOrigin, Restrictions); the loop
// must not modify them.
//
// Randomness (session ids, playback ids, shuffle order) comes from a PCG
// generator kept inside the State and seeded by New, so Step stays
// deterministic: the same State and Input give the same result.
package connect
