package connect

import (
	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
)

// maxListed bounds prev_tracks and next_tracks, as the apps expect.
const maxListed = 32

// DeviceInfo is what the apps list: name, type, volume and the
// capabilities we implement (and no more).
func (s State) DeviceInfo() *connectpb.DeviceInfo {
	c := s.cfg
	return &connectpb.DeviceInfo{
		CanPlay:               true,
		Volume:                s.volume,
		Name:                  c.DeviceName,
		DeviceId:              c.DeviceID,
		DeviceType:            c.DeviceType,
		DeviceSoftwareVersion: c.SoftwareVersion,
		ClientId:              ClientID,
		SpircVersion:          "3.2.6",
		Capabilities: &connectpb.Capabilities{
			CanBePlayer:               true,
			GaiaEqConnectId:           true,
			SupportsLogout:            c.SupportsLogout,
			IsObservable:              true,
			VolumeSteps:               c.VolumeSteps,
			SupportedTypes:            []string{"audio/track", "audio/episode"},
			CommandAcks:               true,
			SupportsPlaylistV2:        true,
			IsControllable:            true,
			SupportsTransferCommand:   true,
			SupportsCommandRequest:    true,
			SupportsGzipPushes:        true,
			SupportsSetOptionsCommand: true,
		},
	}
}

// PutState is the full state to publish at now (ms since the epoch) with
// reason.
func (s State) PutState(now int64, reason connectpb.PutStateReason) *connectpb.PutStateRequest {
	req := &connectpb.PutStateRequest{
		ClientSideTimestamp:       uint64(max(now, 0)),
		MemberType:                connectpb.MemberType_CONNECT_STATE,
		PutStateReason:            reason,
		IsActive:                  s.active,
		LastCommandMessageId:      s.lastCmdID,
		LastCommandSentByDeviceId: s.lastCmdFrom,
		Device: &connectpb.Device{
			DeviceInfo:  s.DeviceInfo(),
			PlayerState: s.PlayerState(now),
		},
	}
	if s.active {
		req.StartedPlayingAt = uint64(max(s.startedAt, 0))
		req.HasBeenPlayingForMs = uint64(max(now-s.startedAt, 0))
	}
	return req
}

// PlayerState is the player state as the apps read it, at now (ms).
func (s State) PlayerState(now int64) *connectpb.PlayerState {
	ps := &connectpb.PlayerState{
		IsSystemInitiated: true,
		PlaybackSpeed:     1,
		Timestamp:         now,
		Options: &connectpb.ContextPlayerOptions{
			ShufflingContext: s.shuffle,
			RepeatingContext: s.repeatCtx,
			RepeatingTrack:   s.repeatTrack,
		},
	}
	if !s.active {
		return ps
	}
	ps.SessionId = s.sessionID
	ps.PlaybackId = s.playbackID
	ps.PlayOrigin = s.playOrigin
	ps.Suppressions = s.suppressions
	ps.ContextUri = s.ctx.uri
	ps.ContextUrl = s.ctx.url
	ps.ContextRestrictions = s.ctx.restrictions
	ps.ContextMetadata = s.ctx.metadata
	ps.Restrictions = &connectpb.Restrictions{}
	ps.IsPlaying = s.loaded
	ps.IsPaused = s.loaded && s.paused
	ps.IsBuffering = s.loaded && s.buffering
	ps.Duration = s.durationMs
	// Apps misbehave unless the speed is 0 while nothing moves.
	if !s.loaded || s.paused || s.buffering {
		ps.PlaybackSpeed = 0
	}
	ps.PositionAsOfTimestamp = s.positionAt(now)
	if s.hasCur {
		ps.Track = provided(s.cur)
		if !s.curQueued && s.ctx.pos >= 0 && s.ctx.pos < s.ctx.len() {
			t := s.ctx.at(s.ctx.pos)
			ps.Index = &connectpb.ContextIndex{Page: t.page, Track: t.index}
		}
	}
	for i := max(0, s.ctx.pos-maxListed); i < s.ctx.pos && i < s.ctx.len(); i++ {
		ps.PrevTracks = append(ps.PrevTracks, provided(s.ctx.at(i)))
	}
	for _, t := range s.queue {
		if len(ps.NextTracks) == maxListed {
			break
		}
		ps.NextTracks = append(ps.NextTracks, provided(t))
	}
	for i := s.ctx.pos + 1; i < s.ctx.len() && len(ps.NextTracks) < maxListed; i++ {
		ps.NextTracks = append(ps.NextTracks, provided(s.ctx.at(i)))
	}
	return ps
}

func provided(t track) *connectpb.ProvidedTrack {
	return &connectpb.ProvidedTrack{
		Uri:       t.uri,
		Uid:       t.uid,
		Metadata:  t.metadata,
		Provider:  t.provider,
		ArtistUri: t.metadata["artist_uri"],
		AlbumUri:  t.metadata["album_uri"],
	}
}
