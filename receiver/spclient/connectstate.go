package spclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
	"google.golang.org/protobuf/proto"
)

// ErrNoConnectionID is a connect-state call made before the dealer gave a
// connection id: Spotify ties the device state to that connection.
var ErrNoConnectionID = errors.New("spclient: no dealer connection id yet")

// ConnectionIDHeader carries the dealer connection id on connect-state calls.
const ConnectionIDHeader = "X-Spotify-Connection-Id"

// PutState publishes the device state: PUT
// /connect-state/v1/devices/<device id> with the PutStateRequest as protobuf.
// A 429 is returned at once as a *StatusError with its RetryAfter, since the
// caller (the Publisher) coalesces newer states meanwhile. The answer is the
// Cluster Spotify sends back; an answer that does not decode is logged and
// given as an empty Cluster, because the state was accepted all the same.
func (c *Client) PutState(ctx context.Context, connectionID string, req *connectpb.PutStateRequest) (*connectpb.Cluster, error) {
	if connectionID == "" {
		return nil, ErrNoConnectionID
	}
	if req == nil {
		return nil, errors.New("spclient: put state: nil request")
	}
	body, err := proto.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("spclient: put state: encode request: %w", err)
	}
	if body == nil {
		body = []byte{} // an all-default request is still a PUT with a body
	}
	resp, err := c.Do(ctx, Request{
		Method:    http.MethodPut,
		Path:      "connect-state/v1/devices/" + url.PathEscape(c.deviceID),
		Header:    http.Header{ConnectionIDHeader: {connectionID}},
		Body:      body,
		RateLimit: ReturnRateLimit,
	})
	if err != nil {
		return nil, fmt.Errorf("put state (%s): %w", req.GetPutStateReason(), err)
	}
	var cl connectpb.Cluster
	if err := proto.Unmarshal(resp.Body, &cl); err != nil {
		c.log.Warn("spclient put state: the answer is not a Cluster", "bytes", len(resp.Body), "err", err)
		return &connectpb.Cluster{}, nil
	}
	return &cl, nil
}

// Inactive tells Spotify this device stopped playing, so the apps drop it at
// once: PUT /connect-state/v1/devices/<device id>/inactive?notify=false with
// no body, answered 204 (any 2xx counts as done).
func (c *Client) Inactive(ctx context.Context, connectionID string) error {
	if connectionID == "" {
		return ErrNoConnectionID
	}
	_, err := c.Do(ctx, Request{
		Method:    http.MethodPut,
		Path:      "connect-state/v1/devices/" + url.PathEscape(c.deviceID) + "/inactive?notify=false",
		Header:    http.Header{ConnectionIDHeader: {connectionID}},
		RateLimit: ReturnRateLimit,
	})
	if err != nil {
		return fmt.Errorf("put state inactive: %w", err)
	}
	return nil
}
