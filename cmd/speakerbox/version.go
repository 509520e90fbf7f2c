package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
)

func versionCommand() *command {
	return &command{
		name:     "version",
		summary:  "print the version and build of this binary",
		noConfig: true,
		setup: func(fs *flag.FlagSet) runFunc {
			return func(ctx context.Context, a *app, args []string) error {
				if len(args) > 0 {
					return usagef("version takes no arguments")
				}
				arch := runtime.GOARCH
				if bi, ok := debug.ReadBuildInfo(); ok {
					for _, s := range bi.Settings {
						if s.Key == "GOARM" && arch == "arm" {
							arch += "v" + s.Value
						}
					}
				}
				fmt.Fprintf(a.stdout, "speakerbox %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, arch)
				return nil
			}
		},
	}
}
