package playback

import (
	"context"

	"github.com/speakerbox/speakerbox/gpio/amp"
	"github.com/speakerbox/speakerbox/receiver/hooks"
)

// AmpCommands is an amplifier power switch that runs a command through the
// hook runner: onCommand to switch on, offCommand to switch off (empty:
// nothing), each with the amp_on or amp_off event's environment. A failing
// command is logged by the runner and never stops the music, so the switch
// itself never fails.
func AmpCommands(runner *hooks.Runner, onCommand, offCommand string) amp.Switch {
	return amp.SwitchFunc(func(ctx context.Context, on bool) error {
		what, command := "amp_off_command", offCommand
		if on {
			what, command = "amp_on_command", onCommand
		}
		if command != "" {
			_ = runner.Command(ctx, what, command, hooks.Amp(on))
		}
		return nil
	})
}
