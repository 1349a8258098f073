package generator

import "runtime/debug"

// version is set at link time for releases:
//
//	go build -ldflags "-X github.com/idweb-init/idweb-init/generator.version=v1.2.3" ./cmd/idweb-init
var version string

// Version returns the generator's version: the one set at link time, else
// the module version of an installed binary (go install ...@v1.2.3), else
// "devel". It is in the template data, so tests (which are "devel") render
// the same output every time.
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
	}
	return "devel"
}
