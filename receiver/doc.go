// Package receiver is the Spotify side of the speaker: it logs in with the
// credentials zeroconfsrv hands over and makes the speaker a Spotify
// Connect device that every app of the account lists and controls.
//
// # The Connect device
//
// NewDevice builds the whole receiver from a DeviceConfig and Run runs it:
//
//	dev, err := receiver.NewDevice(receiver.DeviceConfig{
//		HTTP:        httpClient,            // every HTTPS call and the dealer websocket
//		Dialer:      &receiver.APDialer{…}, // the access point login (a fake in tests)
//		Credentials: stored,                // nil: wait for Login from a phone
//		Player:      player,                // Load, Pause, Resume, SeekTo, Stop, SetVolume, Prefetch, Events
//		StateDir:    dir, DeviceID: id, Name: "Kitchen",
//		InitialVolume: 32768, MaxVolume: 65535, VolumeSteps: 64,
//	})
//	go dev.Run(ctx)
//	dev.Login(ctx, creds) // a phone handed over new credentials
//
// Run is a supervisor and a thin loop in one goroutine:
//
//   - The supervisor logs in to the access point through the Dialer, then
//     builds the chain of services from that login: apresolve
//     (go-librespot's, through HTTP), client token, login5 (with the access
//     point's canonical username and reusable credentials), spclient with
//     its coalescing publisher, and the dealer websocket. When the access
//     point connection ends (Conn.Done) or the dealer stays disconnected
//     for DealerLostAfter, it drops the whole chain and builds a new one,
//     with jittered exponential backoff and no give-up. A login refused
//     for bad credentials (RejectedError) is not retried: the device waits
//     for Login.
//   - The loop owns the Connect state (package connect: a pure function
//     Step(State, Input) (State, []Effect)) and feeds it the dealer's
//     connection ids, messages and requests, the player's events, the
//     results of context loads, the hardware volume (LocalVolume) and
//     ticks. It carries out the effects: replies to the dealer, player
//     calls, loads in owned goroutines with a deadline, state PUTs through
//     the publisher (NEW_DEVICE after every dealer connection id), the
//     inactive call, hooks (Hooks), the amplifier's idle timeout
//     (Amplifier) and the remembered volume (file "volume" in StateDir,
//     written atomically from a goroutine of its own, latest value
//     winning).
//
// The Connect state outlives the chain: after a rebuild the device
// registers again with the same session, track and volume. At the end of
// Run, and when the user logs out from an app, the device makes the
// inactive call (bounded by ShutdownTimeout) so the apps drop it at once.
//
// Everything with a clock takes one (Now, After, NewTicker, Jitter), and
// everything that talks to Spotify takes the *http.Client and the Dialer,
// so a harness outside this repository can run the whole receiver against
// a fake Spotify of its own; package spotifytest is ours.
//
// # The control API's side
//
// The speaker's local HTTP API sees and steers the device through three
// methods, safe from any goroutine:
//
//   - Control carries out play, pause, next, previous, seek and volume as
//     the same command from an app (through the loop, as a
//     connect.LocalCommand): the player follows, the apps see the new
//     state at once, hooks run. ErrNoSession when there is nothing to
//     control (the volume always works), ErrInvalidControl for bad values.
//   - Status is a snapshot the loop publishes after every step (state,
//     user, track, position anchor, volume, options); StatusChanged hands
//     out a channel closed at the next change, so watchers need not poll
//     and cannot hold up the loop.
//   - Ping is answered by the loop's own select, so a wedged loop does
//     not answer (the systemd watchdog).
//
// # The access point
//
// APDialer is the production Dialer, go-librespot's ap
// package behind the small Dialer/Conn interface. The access point's
// handshake is signed with Spotify's key, so no fake can stand in for it on
// the wire: tests fake the Dialer instead.
package receiver
