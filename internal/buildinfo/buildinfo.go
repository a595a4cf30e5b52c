// Package buildinfo knows which build this is. The version is stamped at link time by
// infra/scripts/build.sh (the one build of the handler, for `make build`, `make package` and azd), from
// `git describe`; a build without it (go run, go test) says "dev".
package buildinfo

// Version is set with -ldflags "-X github.com/entra-purge/entra-purge/internal/buildinfo.Version=…".
var Version = "dev"
