// Command funchost runs a function app the way the Azure Functions host runs a
// custom handler with Service Bus triggers, without Azure: it reads host.json and
// */function.json, launches the handler, receives from the trigger queues with
// azservicebus (peek-lock) and sends the handler the exact requests the real host
// sends. See internal/standin/funchost.
//
// Usage:
//
//	funchost [--app-root DIR] [--set KEY=VALUE]... [--ready-timeout D] [--drain-timeout D]
//
// Settings come from DIR/local.settings.json (or local.settings.sample.json);
// --set overrides one, for example the emulator's connection string:
//
//	funchost --set 'ServiceBusConnection=Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true'
//
// Ctrl-C (SIGINT) or SIGTERM stops it gracefully: no new messages, in-flight
// invocations finish, then the handler is stopped. The exit status is 1 when the
// host could not start or stopped on its own (a trigger that cannot connect, or
// the handler failing three times within 30 minutes), 2 for bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/entra-purge/entra-purge/internal/standin/funchost"
)

// settingsFlag collects repeated --set KEY=VALUE.
type settingsFlag map[string]string

func (s settingsFlag) String() string { return fmt.Sprint(len(s)) + " settings" }

func (s settingsFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return errors.New("want KEY=VALUE")
	}
	s[k] = val
	return nil
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("funchost", flag.ContinueOnError)
	appRoot := fs.String("app-root", ".", "function app root (host.json, */function.json, local settings)")
	settings := settingsFlag{}
	fs.Var(settings, "set", "override an app setting, KEY=VALUE (repeatable)")
	readyTimeout := fs.Duration("ready-timeout", 0, "limit for the handler to answer GET / (default: host.json customHandler.initializationTimeout, else 30s)")
	drainTimeout := fs.Duration("drain-timeout", 30*time.Second, "how long a stop waits for in-flight invocations")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "funchost: unexpected arguments %q\n", fs.Args())
		return 2
	}
	h, err := funchost.New(funchost.Options{
		AppRoot:      *appRoot,
		Settings:     settings,
		ReadyTimeout: *readyTimeout,
		DrainTimeout: *drainTimeout,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = h.Run(ctx)
	s := h.Stats()
	fmt.Fprintf(os.Stderr, "funchost: %d invocations (%d completed, %d abandoned), %d handler restarts, %d worker errors, %d timeouts, %d hangs\n",
		s.Invocations, s.Completed, s.Abandoned, s.Restarts, s.WorkerErrors, s.Timeouts, s.Hangs)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
