// Package plan is what the host harness asks a guest to do: a list of steps
// the guest agent runs in order, each ending in one or more check lines.
// The host writes it as JSON into the guest's initramfs.
package plan

import (
	"encoding/json"
	"fmt"
	"time"
)

// Path is where the plan sits in the guest.
const Path = "/etc/hil/plan.json"

// Plan is one guest's work.
type Plan struct {
	// WaitFor are device nodes to wait for before the first step (udev
	// does not exist in the guest and nodes appear after insmod returns).
	WaitFor []string
	Steps   []Step
}

// Step kinds.
const (
	// KindLoopSelf plays Ref with the agent's own ALSA player and records
	// it: proves the kernel, the loopback and the recorder, independent of
	// speakerbox.
	KindLoopSelf = "loop-self"
	// KindGPIOSelf toggles a line with periph.io and marks each change, so
	// the host can check its trace parser against known levels.
	KindGPIOSelf = "gpio-self"
	// KindPlay runs `speakerbox play` to the loopback while recording.
	KindPlay = "play"
	// KindRelayByName runs `speakerbox play` with the relay on a named line
	// and watches the line in debugfs.
	KindRelayByName = "relay-name"
	// KindAppliance starts `speakerbox run` in the background as an init
	// script would and stays up until the host ends the VM.
	KindAppliance = "appliance"
)

// Step is one thing to do. Which fields matter depends on Kind.
type Step struct {
	ID   string // check id printed on the verdict line
	Kind string

	Bin  string // speakerbox binary in the guest
	File string // media to play
	Ref  string // reference WAV (from the host's wav sink)
	// Format is the sample format the recorder opens (44.1 kHz stereo);
	// the player must negotiate the same.
	Format string
	Args   []string // extra arguments to speakerbox

	// RefArgs, when set, make the agent also write the reference in the
	// guest: `speakerbox play RefArgs --output wav` with the same binary.
	// The capture is compared with that; the host's reference is then
	// compared with it too, to tell decoder arithmetic (arm64 fuses
	// multiply-adds, amd64 does not) from the ALSA path.
	RefArgs []string

	// Compare: "exact" (bit-exact after alignment), "gap" (exactly one
	// inserted silence, nothing lost) or "" (no comparison).
	Compare string

	// StopAfter/StopFor: SIGSTOP the player this long after the first
	// sound reaches the capture, SIGCONT it StopFor later.
	StopAfter, StopFor time.Duration
	// SilenceFill (loop-self only) makes the agent's player ask the ALSA
	// core to fill the buffer behind its writes with silence.
	SilenceFill bool
	// Measure (loop-self only): report what happened as a measurement
	// that passes, instead of requiring a bit-exact result.
	Measure bool
	// Signal ("TERM", "KILL") is sent SignalAfter after the first sound.
	Signal      string
	SignalAfter time.Duration

	// LockRate makes the recorder hold the capture side at this rate
	// before the player opens, so the player's rate is impossible;
	// ExpectFail lists text the player's error output must contain.
	LockRate   int
	ExpectFail []string

	// WantLog lists text (case-insensitive) the player's log must contain
	// on success, such as "xrun".
	WantLog []string
	// RejectLog lists text the player's log must not contain ("xruns=2").
	RejectLog []string

	// GPIO: the chip label and line number for gpio-self, and for
	// relay-name the line name ("GPIO17") with the chip and number it must
	// turn out to be.
	ChipLabel string
	Line      int
	LineName  string

	// AfterArgs, when set, run the same binary once more after the player
	// has ended (what systemd's ExecStopPost= does after any exit).
	AfterArgs []string

	// Linger keeps recording (or watching) this long after the player
	// exits; for the relay it must cover the idle timeout.
	Linger time.Duration
	// Timeout bounds the whole step.
	Timeout time.Duration
}

// Encode renders a plan as JSON.
func Encode(p Plan) ([]byte, error) { return json.MarshalIndent(p, "", " ") }

// Decode reads a plan and checks every step has what its kind needs.
func Decode(b []byte) (Plan, error) {
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return Plan{}, fmt.Errorf("decode plan: %w", err)
	}
	for i, s := range p.Steps {
		if s.ID == "" {
			return Plan{}, fmt.Errorf("plan step %d has no id", i)
		}
		switch s.Kind {
		case KindLoopSelf:
			if s.Ref == "" {
				return Plan{}, fmt.Errorf("plan step %s: %s needs Ref", s.ID, s.Kind)
			}
		case KindGPIOSelf:
			if s.ChipLabel == "" {
				return Plan{}, fmt.Errorf("plan step %s: %s needs ChipLabel", s.ID, s.Kind)
			}
		case KindPlay, KindRelayByName, KindAppliance:
			if s.Bin == "" {
				return Plan{}, fmt.Errorf("plan step %s: %s needs Bin", s.ID, s.Kind)
			}
		default:
			return Plan{}, fmt.Errorf("plan step %s: unknown kind %q", s.ID, s.Kind)
		}
		if s.Compare != "" && s.Compare != "exact" && s.Compare != "gap" {
			return Plan{}, fmt.Errorf("plan step %s: unknown comparison %q", s.ID, s.Compare)
		}
	}
	return p, nil
}
