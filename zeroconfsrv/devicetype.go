package zeroconfsrv

import (
	"fmt"
	"strings"

	devicespb "github.com/devgianlu/go-librespot/proto/spotify/connectstate/devices"
)

// deviceClasses maps the configuration's device classes (librespot's
// --device-type spelling) to Spotify's enum.
var deviceClasses = map[string]devicespb.DeviceType{
	"computer": devicespb.DeviceType_COMPUTER, "tablet": devicespb.DeviceType_TABLET,
	"smartphone": devicespb.DeviceType_SMARTPHONE, "speaker": devicespb.DeviceType_SPEAKER,
	"tv": devicespb.DeviceType_TV, "avr": devicespb.DeviceType_AVR, "stb": devicespb.DeviceType_STB,
	"audiodongle": devicespb.DeviceType_AUDIO_DONGLE, "gameconsole": devicespb.DeviceType_GAME_CONSOLE,
	"castaudio": devicespb.DeviceType_CAST_AUDIO, "castvideo": devicespb.DeviceType_CAST_VIDEO,
	"automobile": devicespb.DeviceType_AUTOMOBILE, "smartwatch": devicespb.DeviceType_SMARTWATCH,
	"chromebook": devicespb.DeviceType_CHROMEBOOK, "carthing": devicespb.DeviceType_CAR_THING,
	"homething": devicespb.DeviceType_HOME_THING,
}

// ParseDeviceType turns a device class such as "speaker" or "castaudio"
// into Spotify's device type.
func ParseDeviceType(class string) (devicespb.DeviceType, error) {
	if t, ok := deviceClasses[strings.ToLower(class)]; ok {
		return t, nil
	}
	return 0, fmt.Errorf("unknown device class %q; one of computer, tablet, smartphone, speaker, tv, avr, stb, audiodongle, gameconsole, castaudio, castvideo, automobile, smartwatch, chromebook, carthing, homething", class)
}
