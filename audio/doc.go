// Package audio turns an encrypted Spotify audio file into sound: a chain of
// small stages (AES-CTR decryption, Spotify header, Vorbis decoding, gain,
// device-format conversion, a lock-free ring buffer) ending in a sink (ALSA,
// pipe, WAV or null). It knows nothing of Spotify sessions.
package audio
