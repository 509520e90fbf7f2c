//go:build !386

package alsactl

// Everywhere else (ARM EABI included) long long is 8-byte aligned, which
// puts 4 bytes of padding after the 4-byte 'indirect' field.
const valuePad = 4
