package config

// CheckValue parses and validates raw (flag or environment syntax) as the
// value of the named key, as Load would, and returns the *Error Load would
// return, naming source. Other files that set keys (the first-boot settings
// file on a speaker's boot partition) use it so that their errors read the
// same as the configuration file's.
func CheckValue(name, raw, source string) error {
	for _, k := range keys() {
		if k.name == name {
			var c Config
			return assign(&c, &k, raw, source)
		}
	}
	return &Error{Key: name, Value: raw, Source: source, Problem: "unknown key"}
}
