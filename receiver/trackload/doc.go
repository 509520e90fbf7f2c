// Package trackload turns a Spotify track or episode URI into a file the
// player can decode: metadata through extended-metadata, the account's
// country restrictions and relinking, the choice of an Ogg Vorbis file,
// the audio key through the access point, storage-resolve, and a streaming
// CDN source with failover. It knows nothing of the Connect state: the
// track player asks it for a URI and gets a Loaded back.
//
// # The fetch path
//
// Load asks extended-metadata for TRACK_V4 and AUDIO_FILES in one request
// (EPISODE_V4 for an episode), checks the restrictions against the
// account's country and relinks a restricted track to its first
// alternative that may play (Meta.URI stays the URI asked for, so a
// prefetch is matched by it; PlayedURI names the alternative, whose
// AUDIO_FILES, file and key are the ones used). It keeps only Ogg Vorbis
// files, at audio.bitrate or else 320 -> 160 -> 96 (media.ChooseFile). Then
// the audio key (bounded by KeyTimeout) and storage-resolve plus the first
// CDN chunk run side by side. The stream (audio/source) fails over to the
// next CDN host when one breaks, and resolves the URLs again on a 403/410
// or shortly before they expire (spclient.CDNURLs, the expiry read from the
// URL), resuming at the same byte.
//
// Errors: an *UnavailableError (errors.Is(err, ErrUnavailable)) means the
// item cannot play here — restricted without alternative, no Ogg Vorbis
// file, the key refused, the metadata missing or malformed, a 4xx answer:
// skip it. Anything else (network, 5xx after spclient's retries, key
// timeout, the access point lost, ctx) may pass: the caller may try again,
// within its own bound on consecutive failures.
//
// # Memory
//
// A stream holds at most 16 chunks of 128 KiB (audio/source's defaults):
// 2 MiB, whatever the length of the file, of which 4 chunks (about 13 s at
// 320 kbps) are read ahead of the player. The playing track and one
// prefetch together hold 4 MiB, under 1% of a Pi Zero's 512 MB, where
// keeping whole files (go-librespot) costs about 12 MB for a five-minute
// 320 kbps track and 70 MB for an hour-long episode, each; and 13 s of
// read-ahead rides out a CDN failover with several backoff steps.
//
// # Loudness normalisation: the file's header wins
//
// Speakerbox normalises from the loudness data in each file's own header
// (the Spotify header page in front of the Ogg stream, as librespot does).
// AUDIO_FILES also carries normalisation parameters (integrated loudness
// and true peak, which go-librespot uses); the loader reads them into
// Loaded.Norm and Loaded.AlbumNorm but the player does not apply them.
// The header travels with the audio it describes, so it always matches the
// file that plays, relinked or not, episode or track, and needs no second
// source to agree with; AUDIO_FILES is absent for episodes, may be absent
// or partial for tracks, and describes the entity asked for rather than
// the exact file. Every Vorbis file Spotify serves has the header, so
// nothing is lost by not using AUDIO_FILES.
package trackload
