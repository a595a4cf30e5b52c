package funchost

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/entra-purge/entra-purge/standin/internal/cli"
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

// Command is `go run ./standin host`: it runs a function app the way the Azure Functions host runs a
// custom handler with Service Bus and timer triggers, without Azure: it reads host.json and */function.json,
// launches the handler, receives from the trigger queues with azservicebus (peek-lock) and sends the
// handler the exact requests the real host sends.
//
//	go run ./standin host [--app-root DIR] [--set KEY=VALUE]... [--drain-timeout D] [--timer-status DIR]
//
// Settings come from DIR/local.settings.json (or local.settings.sample.json); --set overrides one, for
// example the emulator's connection string:
//
//	go run ./standin host --set 'ServiceBusConnection=Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true'
//
// When ctx ends (Ctrl-C or SIGTERM) it stops: no new messages, in-flight invocations finish (up to
// --drain-timeout), then the handler is killed as the real host kills it, and it returns nil. It returns an error when the host could not start or
// stopped on its own (a trigger that cannot connect, or the handler failing three times within 30
// minutes), and a cli.UsageError for a bad command line.
func Command(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("standin host", flag.ContinueOnError)
	appRoot := fs.String("app-root", ".", "function app root (host.json, */function.json, local settings)")
	settings := settingsFlag{}
	fs.Var(settings, "set", "override an app setting, KEY=VALUE (repeatable)")
	drainTimeout := fs.Duration("drain-timeout", 30*time.Second, "how long a stop waits for in-flight invocations")
	timerStatus := fs.String("timer-status", "", "directory that keeps timer schedule status across runs (past-due runs at start-up); default: none kept")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	h, err := New(Options{
		AppRoot:        *appRoot,
		Settings:       settings,
		DrainTimeout:   *drainTimeout,
		TimerStatusDir: *timerStatus,
	})
	if err != nil {
		return err
	}
	err = h.Run(ctx)
	s := h.Stats()
	fmt.Fprintf(os.Stderr, "host: %d invocations (%d completed, %d abandoned), %d handler restarts, %d worker errors, %d timeouts, %d hangs\n",
		s.Invocations, s.Completed, s.Abandoned, s.Restarts, s.WorkerErrors, s.Timeouts, s.Hangs)
	return err
}
