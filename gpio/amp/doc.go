// Package amp switches the amplifier: a relay (or enable/mute pin) driven
// through periph.io's gpio.PinOut with a warm-up delay and an idle timeout, and
// a safe off state on every exit. It knows nothing of Spotify sessions.
package amp
