package dealer

import "encoding/json"

// Event is one thing the dealer tells its consumer: ConnectionID, Message,
// Request or Disconnected. The set is closed; switch on the type.
type Event interface{ dealerEvent() }

// ConnectionID comes once per connection, as soon as Spotify's pusher names
// it (first connect and every reconnect). The device must PUT its full state
// with reason NEW_DEVICE and this id after every one of them.
type ConnectionID struct {
	ID string
}

// Message is a push from Spotify (cluster updates, volume, logout, ...).
type Message struct {
	URI string
	// Headers as sent, minus Transfer-Encoding once the payload is decoded.
	Headers map[string]string
	// Payload is decoded (base64, then gunzip when the message said so); nil
	// when the message carried none. Several payloads are joined in order.
	Payload []byte
}

// Request is a command from a Spotify app. Exactly one reply goes back per
// request: the first Reply call, or success=false when the reply deadline
// passes first.
type Request struct {
	// Ident is the message_ident, e.g. hm://connect-state/v1/player/command.
	Ident string
	// Key is the request key the reply echoes.
	Key string
	// MessageID and SentBy (sent_by_device_id) go into the next state PUT
	// as last_command_message_id and last_command_sent_by_device_id.
	MessageID uint32
	SentBy    string
	// Endpoint is command.endpoint ("play", "pause", "transfer", ...).
	Endpoint string
	// Command is the whole command object as sent, endpoint included; the
	// Connect state machine parses the rest.
	Command json.RawMessage
	// Reply answers the request. It never blocks, is safe from any
	// goroutine, and only its first call counts; calls after the deadline
	// or after the connection has gone are ignored.
	Reply func(success bool)
}

// Disconnected says a connection that was up has ended; the dealer is
// already reconnecting. Err says why.
type Disconnected struct {
	Err error
}

func (ConnectionID) dealerEvent() {}
func (Message) dealerEvent()      {}
func (Request) dealerEvent()      {}
func (Disconnected) dealerEvent() {}
