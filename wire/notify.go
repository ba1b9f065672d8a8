package wire

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Client notification over TCP (the site's notification port, 10123 by default) is a
// persistent session of frames: 1 byte type, 4 bytes big-endian payload length, payload
// (JSON). The client logs in, sends keep-alives, and acknowledges pushes.
//
//	client                      MP
//	  | --- Login{guid,group} -->  |
//	  | <-- LoginOK -------------  |
//	  | --- KeepAlive ---------->  |   every keep-alive interval
//	  | <-- KeepAliveOK ---------  |
//	  | <-- Push{id,action,sent}-  |   when the orchestrator pushes
//	  | --- Ack{id} ------------>  |
//
// Long polling (GET /bgb/handler.ashx?guid=..&group=..&wait=30s) carries the same Push
// JSON as its 200 body; 204 means nothing to deliver; ?ack=ID acknowledges.

// FrameType is a notification frame type.
type FrameType byte

// Frame types.
const (
	FrameLogin       FrameType = 1
	FrameLoginOK     FrameType = 2
	FrameKeepAlive   FrameType = 3
	FrameKeepAliveOK FrameType = 4
	FramePush        FrameType = 5
	FrameAck         FrameType = 6
)

// MaxFrame bounds one frame's payload.
const MaxFrame = 64 << 10

// ErrFrame: a frame is malformed or too large (the peer closes the session).
var ErrFrame = errors.New("bad notification frame")

// Login is the first frame of a session.
type Login struct {
	GUID  string `json:"guid"`
	Group string `json:"group,omitempty"`
}

// Push is one notification to a client.
type Push struct {
	ID     uint64 `json:"id"`
	Action string `json:"action"`          // machine-policy, user-policy, hardware-inventory
	SentNS int64  `json:"sent_ns"`         // MP's send time, unix nanoseconds (same host clock)
	Group  string `json:"group,omitempty"` // target group; empty: everyone
}

// Ack acknowledges a push.
type Ack struct {
	ID uint64 `json:"id"`
}

// WriteFrame writes one frame; v is marshalled as JSON (nil: empty payload).
func WriteFrame(w io.Writer, t FrameType, v any) error {
	var payload []byte
	if v != nil {
		var err error
		if payload, err = json.Marshal(v); err != nil {
			return err
		}
	}
	if len(payload) > MaxFrame {
		return fmt.Errorf("%w: payload %d bytes", ErrFrame, len(payload))
	}
	buf := make([]byte, 5+len(payload))
	buf[0] = byte(t)
	binary.BigEndian.PutUint32(buf[1:5], uint32(len(payload)))
	copy(buf[5:], payload)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame. Payloads above MaxFrame and unknown types are ErrFrame.
func ReadFrame(r io.Reader) (FrameType, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	t := FrameType(hdr[0])
	if t < FrameLogin || t > FrameAck {
		return 0, nil, fmt.Errorf("%w: unknown type %d", ErrFrame, t)
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxFrame {
		return 0, nil, fmt.Errorf("%w: length %d", ErrFrame, n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return t, payload, nil
}
