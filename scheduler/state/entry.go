package state

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/docketd/docket/internal/errdefs"
)

// An entry is encoded as JSON naming its command's type:
//
//	{"index":7,"at":"2024-05-01T10:00:00Z","type":"ScaleJob","cmd":{"name":"web","count":3}}
//
// Encoding is for a log or a replay; [State.Apply] applies a command as it
// is, without encoding it. A decoded entry applies as the original does:
// what the encoding does not keep (a time's location and monotonic
// reading, a spec's empty lists as against absent ones) is nothing apply
// decides on.
type entryJSON struct {
	Index uint64          `json:"index"`
	At    time.Time       `json:"at"`
	Type  string          `json:"type"`
	Cmd   json.RawMessage `json:"cmd"`
}

// EncodeEntry encodes an entry for a log.
func EncodeEntry(e Entry) ([]byte, error) {
	if e.Cmd == nil {
		return nil, fmt.Errorf("%w: state: entry %d has no command", errdefs.ErrInvalid, e.Index)
	}
	cmd, err := json.Marshal(e.Cmd)
	if err != nil {
		return nil, fmt.Errorf("%w: state: encode entry %d: %v", errdefs.ErrInvalid, e.Index, err)
	}
	return json.Marshal(entryJSON{Index: e.Index, At: e.At, Type: e.Cmd.command(), Cmd: cmd})
}

// DecodeEntry decodes an entry EncodeEntry encoded.
func DecodeEntry(b []byte) (Entry, error) {
	var w entryJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return Entry{}, fmt.Errorf("%w: state: decode entry: %v", errdefs.ErrInvalid, err)
	}
	cmd, err := decodeCommand(w.Type, w.Cmd)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: state: decode entry %d: %v", errdefs.ErrInvalid, w.Index, err)
	}
	return Entry{Index: w.Index, At: w.At, Cmd: cmd}, nil
}

// decodeCommand is the table of command types, by the name their
// command method gives: every type in commands.go has its line
// (TestEveryCommandEncodes fails for one that has not).
func decodeCommand(typ string, b []byte) (Command, error) {
	switch typ {
	case "RegisterJob":
		return decodeAs[RegisterJob](b)
	case "StopJob":
		return decodeAs[StopJob](b)
	case "ScaleJob":
		return decodeAs[ScaleJob](b)
	case "RegisterNode":
		return decodeAs[RegisterNode](b)
	case "SetNodeStatus":
		return decodeAs[SetNodeStatus](b)
	case "SetNodeDrain":
		return decodeAs[SetNodeDrain](b)
	case "SetNodeEligibility":
		return decodeAs[SetNodeEligibility](b)
	case "SetNodeHealth":
		return decodeAs[SetNodeHealth](b)
	case "ApplyPlan":
		return decodeAs[ApplyPlan](b)
	case "UpdateAllocs":
		return decodeAs[UpdateAllocs](b)
	case "UpsertEvals":
		return decodeAs[UpsertEvals](b)
	case "SettleDispatch":
		return decodeAs[SettleDispatch](b)
	case "DeleteEvals":
		return decodeAs[DeleteEvals](b)
	case "DeleteAllocs":
		return decodeAs[DeleteAllocs](b)
	case "BootstrapACL":
		return decodeAs[BootstrapACL](b)
	case "UpsertACLPolicies":
		return decodeAs[UpsertACLPolicies](b)
	case "DeleteACLPolicies":
		return decodeAs[DeleteACLPolicies](b)
	case "UpsertACLTokens":
		return decodeAs[UpsertACLTokens](b)
	case "DeleteACLTokens":
		return decodeAs[DeleteACLTokens](b)
	case "UpsertTopic":
		return decodeAs[UpsertTopic](b)
	case "DeleteTopic":
		return decodeAs[DeleteTopic](b)
	case "UpsertSubscriptions":
		return decodeAs[UpsertSubscriptions](b)
	case "DeleteSubscriptions":
		return decodeAs[DeleteSubscriptions](b)
	}
	return nil, fmt.Errorf("unknown command type %q", typ)
}

func decodeAs[C Command](b []byte) (Command, error) {
	var c C
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	return c, nil
}
