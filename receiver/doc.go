// Package receiver is the Spotify side of the speaker: it logs in with the
// credentials zeroconfsrv hands over, keeps the Connect device state, and
// drives the audio pipeline and the amplifier power (package gpio).
package receiver
