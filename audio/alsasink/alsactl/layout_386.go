package alsactl

// i386 aligns long long to 4 bytes inside structs, so the value union
// follows the 4-byte 'indirect' field directly.
const valuePad = 0
