// Package cli is what the stand-in commands (`go run ./standin <name>`) share: serving a stand-in until
// its context ends (Ctrl-C), reading comma-separated flag values, and mapping a command's error to an
// exit status.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// Serve runs h on ln until ctx ends (the dispatcher cancels it on SIGINT or SIGTERM), then shuts down
// gracefully: in-flight requests get 5 s.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// SplitList splits a comma-separated list, dropping blanks and surrounding spaces.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// UsageError is a bad command line: exit status 2.
type UsageError struct {
	Err error
	// Reported is true when the flag package has already printed the error and the usage.
	Reported bool
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError with a message of its own.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// Parse parses args into fs (which must use flag.ContinueOnError) and refuses positional arguments.
// A bad flag is a UsageError; -h and -help return flag.ErrHelp.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &UsageError{Err: err, Reported: true}
	}
	if fs.NArg() > 0 {
		return Usagef("unexpected arguments %q", fs.Args())
	}
	return nil
}

// ErrInterrupted is returned (wrapped) by a command that Ctrl-C stopped before it finished its work;
// a server that Ctrl-C stops has finished its work and returns nil.
var ErrInterrupted = errors.New("interrupted")

// Status is the exit status for a command's error: 0 for nil and -h, 2 for a bad command line, 130 when
// interrupted (as a shell reports SIGINT), 1 otherwise.
func Status(err error) int {
	var usage *UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		return 2
	case errors.Is(err, ErrInterrupted):
		return 130
	}
	return 1
}
