package receiver

import "github.com/speakerbox/speakerbox/receiver/apconn"

// Conn is one logged-in connection to Spotify's access point; see package
// apconn, which holds the seam so that the test fake need not import
// receiver.
type Conn = apconn.Conn

// Dialer logs in to Spotify (apconn.Dialer).
type Dialer = apconn.Dialer

// RejectedError is a login the access point refused for good
// (apconn.RejectedError).
type RejectedError = apconn.RejectedError
