// Package audio turns an encrypted Spotify audio file into sound: a chain of
// small stages, each in its own package (source: HTTP Range reads;
// decrypt: AES-CTR; spotifyhdr: the Spotify header; decode: Vorbis; gain:
// normalisation and volume; convert: the device's sample format; ring: the
// lock-free buffer between decoding and output), driven by player and
// ending in a sink (ALSA, pipe, WAV or null). This package holds what the
// stages share: the Sink interface, the PCM Format, and the Gate the player
// asks before it opens a sink. It knows nothing of Spotify sessions.
package audio
